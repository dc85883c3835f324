public import GraftCore

extension GraftFile {
  /// Opens a `.graft` file as a lazy table: the header is validated and checksummed, no tensor byte is read.
  ///
  /// Every tensor is checked against the XXH64 its index stores before any of its bytes is handed out
  /// (``ReadOptions/verifyTensorChecksumsOnRead``); the checks run in file order on another thread, ahead of the
  /// readers, from the first read on (``GraftFileChecks``). Checked uncompressed tensors are mapped zero-copy;
  /// deflated ones decompress only the 1 MiB blocks a read touches. With the check turned off, uncompressed tensors
  /// are plain ``MappedBytes`` (zero-copy, 64-byte aligned).
  ///
  /// - Throws: ``GraftError`` with the file, the tensor and the byte offset of the first problem found.
  public static func read(path: String, options: ReadOptions = .init()) throws(GraftError) -> TensorTable {
    let region = try MappedRegion(path: path)
    let header = try GraftFileHeader.parse(region.bytes, file: path)
    var table = TensorTable()
    var hasAliases = false
    let storedEntries = header.entries.filter { $0.aliasTarget == nil }
    let checks =
      options.verifyTensorChecksumsOnRead
      ? GraftFileChecks(region: region, file: path, tensors: storedEntries.map { ($0.name, $0.stored) }) : nil
    for (k, entry) in storedEntries.enumerated() {
      let stored = entry.stored
      let source: any TensorByteSource =
        checks.map { GraftFileCheckedBytes(checks: $0, index: k) }
        ?? makeSource(stored, name: entry.name, region: region, path: path)
      do { try table.append(entry.name, Tensor(dtype: stored.dtype, shape: stored.shape, bytes: source)) } catch {
        throw error.inFile(path)
      }
    }
    for entry in header.entries {
      guard let target = entry.aliasTarget else { continue }
      hasAliases = true
      do { try table.appendAlias(entry.name, of: header.entries[target].name) } catch { throw error.inFile(path) }
    }
    if hasAliases {
      // Aliases were appended after every stored tensor; put each entry back where the file lists it.
      var position: [String: Int] = [:]
      for (k, entry) in header.entries.enumerated() { position[entry.name] = k }
      table.sort { (position[$0.name] ?? 0) < (position[$1.name] ?? 0) }
    }
    table.metadata = header.metadata
    table.lineage = header.lineage
    return table
  }

  /// Describes a file's layout (version, header, per-tensor offsets, sizes, compression and checksums).
  ///
  /// Reads and validates the header only; tensor bytes are not checked (see ``verify(path:progress:)``).
  public static func info(path: String) throws(GraftError) -> FileInfo {
    let region = try MappedRegion(path: path)
    let header = try GraftFileHeader.parse(region.bytes, file: path)
    let tensors = header.entries.map { entry in
      let s = entry.stored
      let compression: Compression = s.deflate.map { .deflate(level: $0.level) } ?? Compression.none
      return FileInfo.TensorInfo(
        name: entry.name, dtype: s.dtype, shape: s.shape,
        aliasOf: entry.aliasTarget.map { header.entries[$0].name }, offset: s.offset,
        storedBytes: entry.aliasTarget == nil ? s.storedLength : 0, byteCount: s.byteCount, compression: compression,
        checksum: XXHash64.format(s.checksum), digest: XXHash64.format(s.digest))
    }
    return FileInfo(
      majorVersion: header.major, minorVersion: header.minor, fileSize: header.fileSize,
      headerOffset: header.indexOffset, headerLength: header.indexLength,
      headerChecksum: XXHash64.format(header.headerChecksum), contentDigest: header.contentDigest, tensors: tensors,
      metadata: header.metadata, lineage: header.lineage)
  }

  /// The bytes of a tensor read without its checksum check: mapped zero-copy, or decompressed on demand.
  private static func makeSource(
    _ stored: GraftFileStoredTensor, name: String, region: MappedRegion, path: String
  ) -> any TensorByteSource {
    guard let layout = stored.deflate else {
      return MappedBytes(region: region, offset: stored.offset, count: stored.storedLength)
    }
    return ProducedBytes(byteCount: stored.byteCount) { range, buffer in
      try GraftFileDeflatedTensor.copy(
        stored, layout: layout, fileBytes: region.bytes, range: range, into: buffer, file: path, name: name)
    }
  }
}

/// Random access into a deflated tensor: only the blocks a range touches are decompressed.
enum GraftFileDeflatedTensor {
  /// Copies the uncompressed bytes in `range` into `buffer`.
  static func copy(
    _ tensor: GraftFileStoredTensor, layout: GraftFileDeflateLayout, fileBytes: UnsafeRawBufferPointer,
    range: Range<Int>,
    into buffer: UnsafeMutableRawBufferPointer, file: String, name: String
  ) throws(GraftError) {
    guard !range.isEmpty else { return }
    let blockSize = layout.blockSize
    var inflater: GraftFileInflater? = nil
    var scratch: UnsafeMutableRawBufferPointer? = nil
    defer { scratch?.deallocate() }
    for k in (range.lowerBound / blockSize)...((range.upperBound - 1) / blockSize) {
      let blockStart = k * blockSize
      let blockEnd = min(tensor.byteCount, blockStart + blockSize)
      let rawCount = blockEnd - blockStart
      let storedStart = tensor.offset + layout.blockStarts[k]
      let stored = UnsafeRawBufferPointer(rebasing: fileBytes[storedStart..<(storedStart + layout.blockLengths[k])])
      let wanted = max(range.lowerBound, blockStart)..<min(range.upperBound, blockEnd)
      let destination = UnsafeMutableRawBufferPointer(
        rebasing: buffer[(wanted.lowerBound - range.lowerBound)..<(wanted.upperBound - range.lowerBound)])
      if stored.count == rawCount {
        destination.copyMemory(
          from: UnsafeRawBufferPointer(
            rebasing: stored[(wanted.lowerBound - blockStart)..<(wanted.upperBound - blockStart)]))
        continue
      }
      let decoder: GraftFileInflater
      if let inflater {
        decoder = inflater
      } else {
        do { decoder = try GraftFileInflater() } catch {
          throw GraftError(error.code, error.message, file: file, tensor: name)
        }
        inflater = decoder
      }
      let whole = wanted.count == rawCount
      if whole && layout.shuffle == 1 {
        try inflate(decoder, stored, into: destination, block: k, at: storedStart, file: file, name: name)
        continue
      }
      let work: UnsafeMutableRawBufferPointer
      if let scratch {
        work = scratch
      } else {
        work = .allocate(byteCount: 2 * blockSize, alignment: 64)
        scratch = work
      }
      let inflated = UnsafeMutableRawBufferPointer(rebasing: work[0..<rawCount])
      try inflate(decoder, stored, into: inflated, block: k, at: storedStart, file: file, name: name)
      var plain = UnsafeRawBufferPointer(inflated)
      if layout.shuffle > 1 {
        if whole {
          GraftFileBlockCodec.unshuffle(plain, width: layout.shuffle, into: destination)
          continue
        }
        let unshuffled = UnsafeMutableRawBufferPointer(rebasing: work[blockSize..<(blockSize + rawCount)])
        GraftFileBlockCodec.unshuffle(plain, width: layout.shuffle, into: unshuffled)
        plain = UnsafeRawBufferPointer(unshuffled)
      }
      destination.copyMemory(
        from: UnsafeRawBufferPointer(
          rebasing: plain[(wanted.lowerBound - blockStart)..<(wanted.upperBound - blockStart)]))
    }
  }

  private static func inflate(
    _ decoder: GraftFileInflater, _ stored: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer,
    block: Int, at offset: Int, file: String, name: String
  ) throws(GraftError) {
    do { try decoder.decompress(stored, into: destination) } catch {
      throw GraftError(error.code, "block \(block): " + error.message, file: file, tensor: name, byteOffset: offset)
    }
  }
}
