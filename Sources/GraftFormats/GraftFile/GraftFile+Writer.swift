public import GraftCore

extension GraftFile {
  /// Writes a table as a `.graft` file, streaming each tensor once with bounded memory.
  ///
  /// Tensors are read in chunks of at most 8 MiB (1 MiB blocks when compressing), hashed and written in the same
  /// pass; the index with the checksums and the content digest follows the data. Memory stays bounded by one chunk
  /// whatever the table's size. The output goes through ``AtomicOutputFile``: on any error the destination is
  /// untouched and no temporary file remains. The same table and options always give the same bytes.
  ///
  /// - Parameters:
  ///   - table: The tensors, metadata and lineage to write. Entries keep their order; aliases are stored once.
  ///   - path: The destination.
  ///   - options: Compression and an optional lineage record to append (its `output` becomes the content digest).
  ///   - inputs: Files the table reads from; writing over one of them is refused.
  ///   - progress: Advanced by uncompressed tensor bytes.
  /// - Throws: ``GraftError``: `invalidArgument` for an inconsistent table (a size that disagrees with the shape, a
  ///   dangling alias, a non-finite number in metadata), `io` for write failures, or the error of a tensor source.
  @discardableResult
  public static func write(
    _ table: TensorTable, to path: String, options: WriteOptions = .init(), inputs: [String] = [],
    progress: ProgressCounter? = nil
  ) throws(GraftError) -> WriteSummary {
    try validateForWriting(table, path: path)
    try table.requireUnquantized(writer: "the .graft format", file: path)
    if let appended = options.appendLineage {
      try requireFinite(appended.parameters, what: "the appended lineage record's parameters", path: path)
    }
    progress?.expect(table.storedByteCount)

    var out = try AtomicOutputFile(destination: path, inputs: inputs)
    var preamble = [UInt8](repeating: 0, count: GraftFileLayout.preambleSize)
    preamble.replaceSubrange(0..<magic.count, with: magic)
    preamble[8] = UInt8(majorVersion & 0xFF)
    preamble[9] = UInt8(majorVersion >> 8)
    preamble[10] = UInt8(minorVersion & 0xFF)
    preamble[11] = UInt8(minorVersion >> 8)
    try out.write(preamble)

    let buffers = GraftFileWriteBuffers()
    var deflater: GraftFileDeflater? = nil
    if case .deflate(let level) = options.compression { deflater = try GraftFileDeflater(level: level, file: path) }
    var records: [String: GraftFileWrittenTensor] = [:]
    // Checksums of tensors copied in the kernel, still being computed on the second core while later tensors copy.
    var pending: [(name: String, hash: BackgroundWork<XXHash64>)] = []
    let hashing = BackgroundWork<XXHash64>.SerialQueue(label: "graft.checksums")
    var storedCount = 0
    for entry in table.entries where entry.aliasOf == nil {
      let record: GraftFileWrittenTensor
      if let deflater, entry.tensor.byteCount > 0 {
        record = try streamDeflated(
          entry, deflater: deflater, buffers: buffers, out: &out, path: path, progress: progress)
      } else if let checked = entry.tensor.bytes as? GraftFileCheckedBytes, let checksum = checked.storedChecksum {
        // A tensor of another .graft file, uncompressed: its checksum was just verified on the second core, so the
        // kernel copies it and the index takes that checksum instead of hashing the bytes again.
        record = GraftFileWrittenTensor(
          offset: out.position, storedLength: checked.byteCount, checksum: checksum, digest: checksum, deflate: nil)
        do { try checked.copy(into: &out) } catch { throw error.inFile(path).forTensor(entry.name) }
        progress?.advance(by: checked.byteCount)
      } else if let mapped = entry.tensor.bytes as? MappedBytes, mapped.byteCount >= 1 << 20 {
        // Unchanged bytes of a mapped file (smaller ones are not worth the hand-off).
        record = GraftFileWrittenTensor(
          offset: out.position, storedLength: mapped.byteCount, checksum: 0, digest: 0, deflate: nil)
        pending.append((entry.name, try copyHashing(mapped, out: &out, on: hashing, path: path, name: entry.name)))
        progress?.advance(by: mapped.byteCount)
      } else {
        record = try streamRaw(entry, buffers: buffers, out: &out, path: path, progress: progress)
      }
      records[entry.name] = record
      storedCount += 1
      let padding = (GraftFileLayout.alignment - out.position % GraftFileLayout.alignment) % GraftFileLayout.alignment
      if padding > 0 { try out.write(UnsafeRawBufferPointer(rebasing: buffers.zeros[0..<padding])) }
    }

    for (name, hash) in pending {
      let checksum = hash.wait().finalize()
      records[name]?.checksum = checksum
      records[name]?.digest = checksum
    }
    let contentDigest = combinedDigest(table, records: records)
    var lineage = table.lineage
    if var appended = options.appendLineage {
      appended.output = contentDigest
      // An unchanged conversion's input is the output, digest for digest; callers mark it instead of re-reading it.
      appended.inputs = appended.inputs.map { $0 == LineageRecord.sameAsOutput ? contentDigest : $0 }
      lineage.append(appended)
    }
    let index = indexJSON(table, records: records, lineage: lineage, contentDigest: contentDigest)
      .serializedBytes(.compact)
    guard index.count <= GraftFileLayout.maximumIndexLength else {
      throw GraftError(
        .limitExceeded,
        "the index would be \(index.count) bytes, more than the \(GraftFileLayout.maximumIndexLength)-byte cap readers "
          + "accept; move large metadata out of the checkpoint", file: path)
    }
    let indexOffset = out.position
    try out.write(index)
    var trailer: [UInt8] = []
    trailer.reserveCapacity(GraftFileLayout.trailerSize)
    appendLittleEndian(UInt64(indexOffset), to: &trailer)
    appendLittleEndian(UInt64(index.count), to: &trailer)
    let checksum = preamble.withUnsafeBytes { p in
      index.withUnsafeBytes { i in
        trailer.withUnsafeBytes { t in GraftFileHeader.headerChecksum(preamble: p, index: i, trailer: t) }
      }
    }
    appendLittleEndian(checksum, to: &trailer)
    trailer.append(contentsOf: GraftFileLayout.endMagic)
    try out.write(trailer)
    let total = out.position
    try out.commit()
    return WriteSummary(files: [path], bytesWritten: total, storedTensorCount: storedCount)
  }

  // MARK: - Validation

  private static func validateForWriting(_ table: TensorTable, path: String) throws(GraftError) {
    for entry in table.entries {
      let t = entry.tensor
      guard let elements = Checked.product(t.shape), let expected = t.dtype.byteCount(elements: elements) else {
        throw GraftError(
          .invalidArgument, "shape \(t.shape) of \(t.dtype) overflows or does not end on a byte boundary", file: path,
          tensor: entry.name)
      }
      guard expected == t.byteCount else {
        throw GraftError(
          .invalidArgument, "shape \(t.shape) of \(t.dtype) needs \(expected) bytes but the tensor has \(t.byteCount)",
          file: path, tensor: entry.name)
      }
      guard t.shape.count <= GraftFileLayout.maximumRank else {
        throw GraftError(
          .invalidArgument, "\(t.shape.count) dimensions exceed the cap of \(GraftFileLayout.maximumRank)", file: path,
          tensor: entry.name)
      }
      guard let targetName = entry.aliasOf else { continue }
      guard let target = table.entry(targetName), target.aliasOf == nil else {
        throw GraftError(
          .invalidArgument, "alias target '\(targetName)' is missing or is itself an alias", file: path,
          tensor: entry.name)
      }
      guard target.tensor.dtype == t.dtype, target.tensor.shape == t.shape else {
        throw GraftError(
          .invalidArgument,
          "an alias must have its target's dtype and shape: \(t.dtype) \(t.shape) vs '\(targetName)' "
            + "\(target.tensor.dtype) \(target.tensor.shape)", file: path, tensor: entry.name)
      }
    }
    try requireFinite(.object(table.metadata), what: "the metadata", path: path)
    for (k, record) in table.lineage.enumerated() {
      try requireFinite(record.parameters, what: "lineage record #\(k)", path: path)
    }
  }

  /// JSON has no NaN or infinity: writing one would make a file no reader can parse.
  private static func requireFinite(_ value: JSONValue, what: String, path: String) throws(GraftError) {
    switch value {
    case .double(let d) where !d.isFinite:
      throw GraftError(.invalidArgument, "\(what) holds the number \(d), which JSON cannot represent", file: path)
    case .array(let items): for item in items { try requireFinite(item, what: what, path: path) }
    case .object(let object): for (_, v) in object { try requireFinite(v, what: what, path: path) }
    default: return
    }
  }

  // MARK: - Streaming

  private static func readSource(
    _ entry: TensorTable.Entry, _ range: Range<Int>, into buffer: UnsafeMutableRawBufferPointer, path: String
  ) throws(GraftError) {
    do { try entry.tensor.bytes.copyBytes(in: range, into: buffer) } catch let error as GraftError {
      throw error.forTensor(entry.name)
    } catch {
      throw GraftError(
        .io, "reading the tensor's bytes \(range) failed while writing", file: path, tensor: entry.name, cause: error)
    }
  }

  private static func streamRaw(
    _ entry: TensorTable.Entry, buffers: GraftFileWriteBuffers, out: inout AtomicOutputFile, path: String,
    progress: ProgressCounter?
  ) throws(GraftError) -> GraftFileWrittenTensor {
    let source = entry.tensor.bytes
    let total = source.byteCount
    let offset = out.position
    var hash = XXHash64()
    var start = 0
    let direct = source.contiguousBytes
    while start < total {
      let end = min(total, start + GraftFileLayout.chunkSize)
      let view: UnsafeRawBufferPointer
      if let direct {
        view = UnsafeRawBufferPointer(rebasing: direct[start..<end])
      } else {
        let staging = UnsafeMutableRawBufferPointer(rebasing: buffers.chunk[0..<(end - start)])
        try readSource(entry, start..<end, into: staging, path: path)
        view = UnsafeRawBufferPointer(staging)
      }
      hash.update(view)
      try out.write(view)
      if direct != nil { source.discard(start..<end) }
      progress?.advance(by: end - start)
      start = end
    }
    let checksum = hash.finalize()
    return GraftFileWrittenTensor(
      offset: offset, storedLength: total, checksum: checksum, digest: checksum, deflate: nil)
  }

  /// Unchanged bytes of a mapped file: the kernel copies them (`copy_file_range`) while the second core hashes what
  /// was copied, on `queue`; the hash is collected once every tensor has been copied.
  private static func copyHashing(
    _ mapped: MappedBytes, out: inout AtomicOutputFile, on queue: BackgroundWork<XXHash64>.SerialQueue, path: String,
    name: String
  ) throws(GraftError) -> BackgroundWork<XXHash64> {
    do {
      return try out.copy(
        from: mapped.region, range: mapped.offset..<(mapped.offset + mapped.byteCount), digesting: XXHash64(),
        on: queue
      ) { $0.update($1) }
    } catch {
      throw error.inFile(path).forTensor(name)
    }
  }

  private static func streamDeflated(
    _ entry: TensorTable.Entry, deflater: GraftFileDeflater, buffers: GraftFileWriteBuffers,
    out: inout AtomicOutputFile,
    path: String,
    progress: ProgressCounter?
  ) throws(GraftError) -> GraftFileWrittenTensor {
    let source = entry.tensor.bytes
    let total = source.byteCount
    let width = entry.tensor.dtype.byteWidth ?? 1
    let blockSize = GraftFileLayout.defaultBlockSize
    let offset = out.position
    var rawHash = XXHash64()
    var storedHash = XXHash64()
    var lengths: [Int] = []
    var allRaw = true
    let direct = source.contiguousBytes
    var start = 0
    while start < total {
      let end = min(total, start + blockSize)
      let count = end - start
      let raw: UnsafeRawBufferPointer
      if let direct {
        raw = UnsafeRawBufferPointer(rebasing: direct[start..<end])
      } else {
        let staging = UnsafeMutableRawBufferPointer(rebasing: buffers.block[0..<count])
        try readSource(entry, start..<end, into: staging, path: path)
        raw = UnsafeRawBufferPointer(staging)
      }
      rawHash.update(raw)
      var input = raw
      if width > 1 {
        let shuffled = UnsafeMutableRawBufferPointer(rebasing: buffers.shuffled[0..<count])
        GraftFileBlockCodec.shuffle(raw, width: width, into: shuffled)
        input = UnsafeRawBufferPointer(shuffled)
      }
      let compressed: Int?
      do { compressed = try deflater.compress(input, into: buffers.deflated) } catch {
        throw GraftError(error.code, error.message, file: path, tensor: entry.name)
      }
      if let compressed {
        let view = UnsafeRawBufferPointer(rebasing: buffers.deflated[0..<compressed])
        storedHash.update(view)
        try out.write(view)
        lengths.append(compressed)
        allRaw = false
      } else {
        storedHash.update(raw)
        try out.write(raw)
        lengths.append(count)
      }
      if direct != nil { source.discard(start..<end) }
      progress?.advance(by: count)
      start = end
    }
    let checksum = storedHash.finalize()
    // A tensor none of whose blocks shrank is byte-for-byte an uncompressed one: record it as such so readers map it.
    if allRaw {
      return GraftFileWrittenTensor(
        offset: offset, storedLength: total, checksum: checksum, digest: checksum, deflate: nil)
    }
    let level = deflater.level
    var starts: [Int] = []
    var sum = 0
    for length in lengths {
      starts.append(sum)
      sum += length
    }
    let layout = GraftFileDeflateLayout(
      level: level, shuffle: width, blockSize: blockSize, blockLengths: lengths, blockStarts: starts)
    return GraftFileWrittenTensor(
      offset: offset, storedLength: sum, checksum: checksum, digest: rawHash.finalize(), deflate: layout)
  }

  // MARK: - Index

  /// ``TensorTable/contentDigest()`` computed from the per-tensor digests taken while streaming, without a re-read.
  static func combinedDigest(_ table: TensorTable, records: [String: GraftFileWrittenTensor]) -> String {
    GraftFileLayout.contentDigest(
      of: table.entries.map { e in
        (e.name, e.tensor.dtype, e.tensor.shape, e.aliasOf, records[e.aliasOf ?? e.name]?.digest ?? 0)
      })
  }

  private static func indexJSON(
    _ table: TensorTable, records: [String: GraftFileWrittenTensor], lineage: [LineageRecord], contentDigest: String
  ) -> JSONValue {
    var tensors: [JSONValue] = []
    tensors.reserveCapacity(table.count)
    for e in table.entries {
      var o = JSONObject()
      o["name"] = .string(e.name)
      if let target = e.aliasOf {
        o["alias_of"] = .string(target)
        tensors.append(.object(o))
        continue
      }
      guard let r = records[e.name] else { continue }
      o["dtype"] = .string(e.tensor.dtype.rawValue)
      o["shape"] = .array(e.tensor.shape.map(JSONValue.integer))
      o["offset"] = .integer(r.offset)
      o["stored_length"] = .integer(r.storedLength)
      o["checksum"] = .string(XXHash64.format(r.checksum))
      if let d = r.deflate {
        var c = JSONObject()
        c["codec"] = "deflate"
        c["level"] = .integer(d.level)
        c["shuffle"] = .integer(d.shuffle)
        c["block_size"] = .integer(d.blockSize)
        c["blocks"] = .array(d.blockLengths.map(JSONValue.integer))
        o["compression"] = .object(c)
        o["digest"] = .string(XXHash64.format(r.digest))
      }
      tensors.append(.object(o))
    }
    var top = JSONObject()
    top["tensors"] = .array(tensors)
    top["metadata"] = .object(table.metadata)
    top["lineage"] = .array(lineage.map(\.json))
    top["content_digest"] = .string(contentDigest)
    return .object(top)
  }

  private static func appendLittleEndian(_ value: UInt64, to bytes: inout [UInt8]) {
    for k in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(k)))) }
  }
}

/// Where and how one tensor was written.
struct GraftFileWrittenTensor {
  var offset: Int
  var storedLength: Int
  var checksum: UInt64
  var digest: UInt64
  var deflate: GraftFileDeflateLayout?
}

/// Scratch buffers of a write, allocated on first use so that an uncompressed write of mapped tensors allocates
/// nothing but the output buffer.
final class GraftFileWriteBuffers {
  private var storage: [Int: UnsafeMutableRawBufferPointer] = [:]
  /// 64 zero bytes for alignment padding.
  let zeros: UnsafeMutableRawBufferPointer

  init() {
    zeros = .allocate(byteCount: GraftFileLayout.alignment, alignment: 64)
    zeros.initializeMemory(as: UInt8.self, repeating: 0)
  }

  deinit {
    zeros.deallocate()
    for buffer in storage.values { buffer.deallocate() }
  }

  private func buffer(_ slot: Int, size: Int) -> UnsafeMutableRawBufferPointer {
    if let existing = storage[slot] { return existing }
    let fresh = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 64)
    storage[slot] = fresh
    return fresh
  }

  /// Staging for one chunk of a producer's bytes.
  var chunk: UnsafeMutableRawBufferPointer { buffer(0, size: GraftFileLayout.chunkSize) }
  /// Staging for one block of a producer's bytes.
  var block: UnsafeMutableRawBufferPointer { buffer(1, size: GraftFileLayout.defaultBlockSize) }
  /// One shuffled block.
  var shuffled: UnsafeMutableRawBufferPointer { buffer(2, size: GraftFileLayout.defaultBlockSize) }
  /// One deflated block.
  var deflated: UnsafeMutableRawBufferPointer { buffer(3, size: GraftFileLayout.defaultBlockSize) }
}
