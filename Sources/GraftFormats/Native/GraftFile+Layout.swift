import GraftCore

/// Byte-level constants of format version 1 and the documented resource caps (`Formats/graft.md` §3 to §6 and §12).
enum NativeLayout {
  /// Every stored tensor, and the index, start at a multiple of this.
  static let alignment = 64
  /// The preamble: magic, version, reserved zeros.
  static let preambleSize = 64
  /// The trailer: index offset, index length, header checksum, end magic.
  static let trailerSize = 32
  /// The last eight bytes of every file.
  static let endMagic: [UInt8] = Array("GRAFTEND".utf8)
  /// The largest JSON index a reader accepts (the safetensors header cap).
  static let maximumIndexLength = 100_000_000
  /// The largest number of dimensions a reader accepts.
  static let maximumRank = 1024
  /// The uncompressed block size writers use.
  static let defaultBlockSize = 1 << 20
  /// Block sizes readers accept.
  static let blockSizeRange = 4096...(64 << 20)
  /// Deflate cannot expand data by more than about 1032:1, so a larger ratio is a forged block table.
  static let maximumDeflateRatio = 1032
  /// The chunk writers and verifiers move at a time; also the most a writer asks of a source at once.
  static let chunkSize = 8 << 20

  /// `value` rounded up to the alignment, or `nil` on overflow.
  static func aligned(_ value: Int) -> Int? {
    guard let sum = Checked.add(value, alignment - 1) else { return nil }
    return sum / alignment * alignment
  }

  /// The content digest of `GraftCore`'s ``TensorTable/contentDigest()``, from per-tensor XXH64 digests.
  ///
  /// Entries are taken in Swift `String` order of their names; each contributes its name, dtype, comma-joined shape
  /// and (for an alias) `=` and the target name, each followed by a zero byte, then the 8-byte little-endian
  /// XXH64 of its uncompressed bytes. Writers know every per-tensor digest once the data is streamed, so the
  /// digest needs no second pass.
  static func contentDigest(
    of entries: [(name: String, dtype: DType, shape: [Int], aliasOf: String?, digest: UInt64)]
  ) -> String {
    var h = XXHash64()
    for e in entries.sorted(by: { $0.name < $1.name }) {
      h.update(Array(e.name.utf8) + [0])
      h.update(Array(e.dtype.rawValue.utf8) + [0])
      h.update(Array(e.shape.map(String.init).joined(separator: ",").utf8) + [0])
      if let a = e.aliasOf { h.update(Array(("=" + a).utf8) + [0]) }
      withUnsafeBytes(of: e.digest.littleEndian) { h.update($0) }
    }
    return XXHash64.format(h.finalize())
  }

  /// `xxh64:` and 16 lowercase hex digits, parsed; `nil` for any other text.
  static func parseDigest(_ text: String) -> UInt64? {
    let prefix = "xxh64:"
    guard text.hasPrefix(prefix) else { return nil }
    let hex = text.dropFirst(prefix.count)
    guard hex.utf8.count == 16, hex.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) })
    else { return nil }
    return UInt64(hex, radix: 16)
  }
}

/// How a deflated tensor is laid out: independent zlib streams, one per block of uncompressed bytes.
struct NativeDeflateLayout: Sendable {
  /// The informational compression level the writer used.
  var level: Int
  /// The byte-shuffle width (the element size; 1 means no shuffle).
  var shuffle: Int
  /// The uncompressed size of every block but the last.
  var blockSize: Int
  /// The stored length of each block; a block stored at its uncompressed size is raw (neither shuffled nor deflated).
  var blockLengths: [Int]
  /// The offset of each block relative to the tensor's stored bytes.
  var blockStarts: [Int]
}

/// A tensor whose bytes are in the file.
struct NativeStoredTensor: Sendable {
  var dtype: DType
  var shape: [Int]
  /// The uncompressed size.
  var byteCount: Int
  /// The absolute offset of the stored bytes.
  var offset: Int
  var storedLength: Int
  /// XXH64 of the stored bytes.
  var checksum: UInt64
  /// XXH64 of the uncompressed bytes.
  var digest: UInt64
  var deflate: NativeDeflateLayout?

  var storedRange: Range<Int> { offset..<(offset + storedLength) }
}

/// One entry of the index, in table order.
struct NativeEntry: Sendable {
  var name: String
  /// For an alias, the position of its target in the entry list.
  var aliasTarget: Int?
  /// The stored tensor (for an alias, a copy of its target's).
  var stored: NativeStoredTensor
}

/// The validated structure of a `.graft` file: everything but the tensor bytes.
struct NativeHeader: Sendable {
  var major: Int
  var minor: Int
  var fileSize: Int
  var indexOffset: Int
  var indexLength: Int
  var headerChecksum: UInt64
  var entries: [NativeEntry]
  var metadata: JSONObject
  var lineage: [LineageRecord]
  var contentDigest: String

  /// Parses and validates the preamble, trailer, header checksum and index of a whole file.
  ///
  /// Checks run from the outside in: magic, version, trailer, lengths, header checksum, and only then the JSON, so
  /// that the JSON parser never sees bytes the checksum has not vouched for.
  static func parse(_ bytes: UnsafeRawBufferPointer, file: String) throws(GraftError) -> NativeHeader {
    let count = bytes.count
    let magic = GraftFile.magic
    if count < magic.count || !zip(magic, bytes).allSatisfy({ $0 == $1 }) {
      let isPrefix = count < magic.count && zip(magic, bytes).allSatisfy { $0 == $1 }
      if isPrefix {
        throw GraftError(
          .truncated, "the file ends inside the \(magic.count)-byte magic", file: file, byteOffset: count)
      }
      throw GraftError(
        .unrecognizedFormat, "expected the .graft magic 47 52 41 46 54 89 0D 0A ('GRAFT\\x89\\r\\n') at the start",
        file: file, byteOffset: 0)
    }
    guard count >= NativeLayout.preambleSize + NativeLayout.trailerSize else {
      throw GraftError(
        .truncated,
        "a .graft file is at least \(NativeLayout.preambleSize + NativeLayout.trailerSize) bytes "
          + "(preamble and trailer) but this one has \(count)", file: file, byteOffset: count)
    }
    var reader = ByteReader(bytes, file: file)
    try reader.seek(to: 8)
    let major = Int(try reader.readLittleEndian(UInt16.self))
    let minor = Int(try reader.readLittleEndian(UInt16.self))
    guard major <= GraftFile.majorVersion else {
      throw GraftError(
        .unsupported,
        "the file is format version \(major).\(minor), newer than the \(GraftFile.majorVersion).x this Graft reads; "
          + "upgrade Graft to read it", file: file, byteOffset: 8)
    }
    guard major >= 1 else {
      throw GraftError(.invalidHeader, "format major version 0 does not exist; expected 1", file: file, byteOffset: 8)
    }

    let trailerStart = count - NativeLayout.trailerSize
    let endMagicStart = count - NativeLayout.endMagic.count
    for (k, b) in NativeLayout.endMagic.enumerated() where bytes[endMagicStart + k] != b {
      throw GraftError(
        .truncated,
        "the file does not end with the trailer magic 'GRAFTEND': it is truncated or was not completely written",
        file: file, byteOffset: endMagicStart + k)
    }
    try reader.seek(to: trailerStart)
    let rawIndexOffset = try reader.readLittleEndian(UInt64.self)
    let rawIndexLength = try reader.readLittleEndian(UInt64.self)
    let storedChecksum = try reader.readLittleEndian(UInt64.self)
    guard rawIndexLength <= UInt64(NativeLayout.maximumIndexLength) else {
      throw GraftError(
        .limitExceeded,
        "the index is \(rawIndexLength) bytes, more than the \(NativeLayout.maximumIndexLength)-byte cap",
        file: file, byteOffset: trailerStart + 8)
    }
    let indexLength = Int(rawIndexLength)
    guard rawIndexOffset <= UInt64(trailerStart), Int(rawIndexOffset) + indexLength == trailerStart else {
      throw GraftError(
        .invalidHeader,
        "the trailer says the index is \(rawIndexLength) bytes at offset \(rawIndexOffset), but the index must end "
          + "where the trailer starts (\(trailerStart)) in this \(count)-byte file", file: file,
        byteOffset: trailerStart)
    }
    let indexOffset = Int(rawIndexOffset)
    guard indexOffset >= NativeLayout.preambleSize, indexOffset % NativeLayout.alignment == 0 else {
      throw GraftError(
        .invalidHeader,
        "the index offset \(indexOffset) must be a multiple of \(NativeLayout.alignment) and at least "
          + "\(NativeLayout.preambleSize)", file: file, byteOffset: trailerStart)
    }
    let computed = headerChecksum(
      preamble: UnsafeRawBufferPointer(rebasing: bytes[0..<NativeLayout.preambleSize]),
      index: UnsafeRawBufferPointer(rebasing: bytes[indexOffset..<trailerStart]),
      trailer: UnsafeRawBufferPointer(rebasing: bytes[trailerStart..<(trailerStart + 16)]))
    guard computed == storedChecksum else {
      throw GraftError(
        .checksumMismatch,
        "the header checksum is \(XXHash64.format(storedChecksum)) but the preamble, index and trailer hash to "
          + "\(XXHash64.format(computed)): the header is corrupted", file: file, byteOffset: trailerStart + 16)
    }

    var options = JSONParser.Options()
    options.duplicateKeys = .keepLast
    let index = UnsafeRawBufferPointer(rebasing: bytes[indexOffset..<trailerStart])
    let json = try JSONParser.parse(index, baseOffset: indexOffset, file: file, options: options)
    var parser = IndexParser(index: index, indexOffset: indexOffset, file: file)
    return try parser.parse(
      json, major: major, minor: minor, fileSize: count, indexLength: indexLength, checksum: storedChecksum)
  }

  /// XXH64 (seed 0) of the preamble, the index and the first 16 trailer bytes, in that order.
  static func headerChecksum(
    preamble: UnsafeRawBufferPointer, index: UnsafeRawBufferPointer, trailer: UnsafeRawBufferPointer
  ) -> UInt64 {
    var h = XXHash64()
    h.update(preamble)
    h.update(index)
    h.update(trailer)
    return h.finalize()
  }
}

/// Validates the JSON index against the rules of `Formats/graft.md` §5 and §9.
private struct IndexParser {
  let index: UnsafeRawBufferPointer
  let indexOffset: Int
  let file: String

  /// The absolute offset of a tensor's entry in the index, found by searching for its serialised name.
  ///
  /// Only called on the error path, so that errors point at the entry rather than the start of the index.
  func offset(ofEntry name: String) -> Int {
    var needle: [UInt8] = Array("{\"name\":".utf8)
    JSONValue.writeString(name, into: &needle)
    guard needle.count <= index.count else { return indexOffset }
    var i = 0
    while i + needle.count <= index.count {
      if index[i] == needle[0] {
        var k = 1
        while k < needle.count && index[i + k] == needle[k] { k += 1 }
        if k == needle.count { return indexOffset + i }
      }
      i += 1
    }
    return indexOffset
  }

  func fail(_ code: GraftError.Code, _ message: String, tensor: String? = nil) -> GraftError {
    GraftError(code, message, file: file, tensor: tensor, byteOffset: tensor.map(offset(ofEntry:)) ?? indexOffset)
  }

  /// The members of an object, refusing a repeated key (metadata inside may repeat keys; structure may not).
  func members(_ value: JSONValue, what: String, tensor: String? = nil) throws(GraftError) -> [String: JSONValue] {
    guard let object = value.objectValue else {
      throw fail(.invalidHeader, "\(what) must be a JSON object but is \(value.kindDescription)", tensor: tensor)
    }
    var result: [String: JSONValue] = [:]
    for (key, v) in object.members {
      guard result.updateValue(v, forKey: key) == nil else {
        throw fail(.duplicateKey, "\(what) repeats the key \"\(key)\"", tensor: tensor)
      }
    }
    return result
  }

  func integer(_ value: JSONValue?, _ field: String, tensor: String) throws(GraftError) -> Int {
    guard let value else { throw fail(.invalidHeader, "the entry has no \"\(field)\"", tensor: tensor) }
    guard let n = value.intValue, n >= 0 else {
      throw fail(
        .invalidHeader, "\"\(field)\" must be a non-negative integer but is \(value.serialized())", tensor: tensor)
    }
    return n
  }

  func digest(_ value: JSONValue?, _ field: String, tensor: String?) throws(GraftError) -> UInt64 {
    guard let text = value?.stringValue, let d = NativeLayout.parseDigest(text) else {
      throw fail(
        .invalidHeader, "\"\(field)\" must be a string 'xxh64:' followed by 16 lowercase hex digits", tensor: tensor)
    }
    return d
  }

  mutating func parse(
    _ json: JSONValue, major: Int, minor: Int, fileSize: Int, indexLength: Int, checksum: UInt64
  ) throws(GraftError) -> NativeHeader {
    let top = try members(json, what: "the index")
    guard let tensorList = top["tensors"]?.arrayValue else {
      throw fail(.invalidHeader, "the index has no \"tensors\" array")
    }
    var entries: [NativeEntry] = []
    entries.reserveCapacity(tensorList.count)
    var positions: [String: Int] = [:]
    var aliasNames: [(position: Int, target: String)] = []
    var cursor = NativeLayout.preambleSize
    for (position, item) in tensorList.enumerated() {
      let fields = try members(item, what: "tensor entry #\(position)")
      guard let name = fields["name"]?.stringValue else {
        throw fail(.invalidHeader, "tensor entry #\(position) has no string \"name\"")
      }
      guard positions.updateValue(position, forKey: name) == nil else {
        throw fail(.duplicateKey, "the name appears twice in the index", tensor: name)
      }
      if let target = fields["alias_of"] {
        guard let targetName = target.stringValue else {
          throw fail(.invalidHeader, "\"alias_of\" must be a string", tensor: name)
        }
        for field in ["dtype", "shape", "offset", "stored_length", "checksum", "compression", "digest"]
        where fields[field] != nil {
          throw fail(
            .invalidHeader, "an alias entry must not have \"\(field)\"; its target owns the data", tensor: name)
        }
        aliasNames.append((position, targetName))
        entries.append(NativeEntry(name: name, aliasTarget: nil, stored: NativeStoredTensor.placeholder))
        continue
      }
      let stored = try parseStored(fields, name: name, cursor: cursor)
      guard let next = NativeLayout.aligned(stored.offset + stored.storedLength) else {
        throw fail(.overflow, "the tensor's end offset overflows", tensor: name)
      }
      cursor = next
      entries.append(NativeEntry(name: name, aliasTarget: nil, stored: stored))
    }
    guard cursor == indexOffset else {
      throw GraftError(
        .invalidOffset,
        "the last tensor's data ends (padded) at \(cursor) but the index starts at \(indexOffset); bytes in between "
          + "belong to no tensor", file: file, byteOffset: cursor)
    }
    let aliasTargets = [Int: String](aliasNames.map { ($0.position, $0.target) }, uniquingKeysWith: { a, _ in a })
    for (position, targetName) in aliasNames {
      let name = entries[position].name
      guard let t = positions[targetName] else {
        throw fail(.invalidHeader, "alias target '\(targetName)' does not exist in the file", tensor: name)
      }
      guard let targetOfTarget = aliasTargets[t] else {
        entries[position].aliasTarget = t
        entries[position].stored = entries[t].stored
        continue
      }
      throw fail(
        .invalidHeader,
        "alias target '\(targetName)' is itself an alias (of '\(targetOfTarget)'); alias chains and cycles "
          + "are not allowed", tensor: name)
    }

    var metadata = JSONObject()
    if let m = top["metadata"] {
      guard let object = m.objectValue else {
        throw fail(.invalidHeader, "\"metadata\" must be a JSON object but is \(m.kindDescription)")
      }
      metadata = object
    }
    var lineage: [LineageRecord] = []
    if let l = top["lineage"] {
      guard let records = l.arrayValue else { throw fail(.invalidHeader, "\"lineage\" must be an array") }
      for (k, r) in records.enumerated() {
        guard let record = LineageRecord(json: r) else {
          throw fail(.invalidHeader, "lineage record #\(k) is not an object with a string \"operation\"")
        }
        lineage.append(record)
      }
    }
    let digestValue = try digest(top["content_digest"], "content_digest", tensor: nil)
    return NativeHeader(
      major: major, minor: minor, fileSize: fileSize, indexOffset: indexOffset, indexLength: indexLength,
      headerChecksum: checksum, entries: entries, metadata: metadata, lineage: lineage,
      contentDigest: XXHash64.format(digestValue))
  }

  func parseStored(_ fields: [String: JSONValue], name: String, cursor: Int) throws(GraftError) -> NativeStoredTensor {
    guard let dtypeName = fields["dtype"]?.stringValue else {
      throw fail(.invalidHeader, "the entry has no string \"dtype\"", tensor: name)
    }
    guard let dtype = DType(rawValue: dtypeName) else {
      throw fail(.unknownDType, "unknown dtype \"\(dtypeName)\"", tensor: name)
    }
    guard let dims = fields["shape"]?.arrayValue else {
      throw fail(.invalidHeader, "the entry has no \"shape\" array", tensor: name)
    }
    guard dims.count <= NativeLayout.maximumRank else {
      throw fail(
        .limitExceeded, "the shape has \(dims.count) dimensions, more than the cap of \(NativeLayout.maximumRank)",
        tensor: name)
    }
    var shape: [Int] = []
    shape.reserveCapacity(dims.count)
    for d in dims {
      guard let n = d.intValue, n >= 0 else {
        throw fail(
          .invalidHeader, "shape dimensions must be non-negative integers, found \(d.serialized())", tensor: name)
      }
      shape.append(n)
    }
    guard let elements = Checked.product(shape), let byteCount = dtype.byteCount(elements: elements) else {
      throw fail(.overflow, "shape \(shape) of \(dtype) overflows or does not end on a byte boundary", tensor: name)
    }
    let offset = try integer(fields["offset"], "offset", tensor: name)
    let storedLength = try integer(fields["stored_length"], "stored_length", tensor: name)
    let checksum = try digest(fields["checksum"], "checksum", tensor: name)
    if offset != cursor {
      let why =
        offset % NativeLayout.alignment != 0
        ? "is not a multiple of \(NativeLayout.alignment)"
        : (offset < cursor ? "overlaps the previous tensor or the preamble" : "leaves a gap after the previous tensor")
      throw GraftError(
        .invalidOffset, "the data offset \(offset) \(why); expected \(cursor)", file: file, tensor: name,
        byteOffset: self.offset(ofEntry: name))
    }
    guard let end = Checked.add(offset, storedLength), end <= indexOffset else {
      throw GraftError(
        .invalidOffset,
        "the \(storedLength) stored bytes at \(offset) run past the end of the data section at \(indexOffset)",
        file: file, tensor: name, byteOffset: offset)
    }
    var tensor = NativeStoredTensor(
      dtype: dtype, shape: shape, byteCount: byteCount, offset: offset, storedLength: storedLength,
      checksum: checksum, digest: checksum, deflate: nil)
    guard let compression = fields["compression"] else {
      guard storedLength == byteCount else {
        throw fail(
          .invalidTensorInfo,
          "shape \(shape) of \(dtype) needs \(byteCount) bytes but \"stored_length\" is \(storedLength)", tensor: name)
      }
      if fields["digest"] != nil {
        throw fail(
          .invalidHeader, "an uncompressed tensor must not have \"digest\" (it equals \"checksum\")", tensor: name)
      }
      return tensor
    }
    tensor.deflate = try parseDeflate(compression, byteCount: byteCount, storedLength: storedLength, name: name)
    tensor.digest = try digest(fields["digest"], "digest", tensor: name)
    return tensor
  }

  func parseDeflate(
    _ value: JSONValue, byteCount: Int, storedLength: Int, name: String
  ) throws(GraftError) -> NativeDeflateLayout {
    let c = try members(value, what: "\"compression\"", tensor: name)
    guard let codec = c["codec"]?.stringValue else {
      throw fail(.invalidHeader, "\"compression\" has no string \"codec\"", tensor: name)
    }
    guard codec == "deflate" else {
      throw fail(.unsupported, "unknown compression codec \"\(codec)\"; this Graft knows \"deflate\"", tensor: name)
    }
    let level = try integer(c["level"], "level", tensor: name)
    let shuffle = try integer(c["shuffle"], "shuffle", tensor: name)
    let blockSize = try integer(c["block_size"], "block_size", tensor: name)
    guard level <= 9 else { throw fail(.invalidHeader, "deflate level \(level) is not in 0...9", tensor: name) }
    guard [1, 2, 4, 8, 16].contains(shuffle), byteCount % shuffle == 0 else {
      throw fail(
        .invalidHeader, "shuffle width \(shuffle) must be 1, 2, 4, 8 or 16 and divide the \(byteCount)-byte size",
        tensor: name)
    }
    guard NativeLayout.blockSizeRange.contains(blockSize), blockSize % shuffle == 0 else {
      throw fail(
        .invalidHeader,
        "block size \(blockSize) must be within \(NativeLayout.blockSizeRange) and a multiple of the shuffle width",
        tensor: name)
    }
    guard let list = c["blocks"]?.arrayValue else {
      throw fail(.invalidHeader, "\"compression\" has no \"blocks\" array", tensor: name)
    }
    let expectedBlocks = byteCount / blockSize + (byteCount % blockSize == 0 ? 0 : 1)
    guard list.count == expectedBlocks else {
      throw fail(
        .invalidHeader,
        "\(byteCount) bytes in blocks of \(blockSize) make \(expectedBlocks) blocks but \"blocks\" lists \(list.count)",
        tensor: name)
    }
    var lengths: [Int] = []
    var starts: [Int] = []
    lengths.reserveCapacity(list.count)
    starts.reserveCapacity(list.count)
    var sum = 0
    for (k, item) in list.enumerated() {
      let length = try integer(item, "blocks[\(k)]", tensor: name)
      let raw = min(blockSize, byteCount - k * blockSize)
      guard length >= 1, length <= raw, raw <= length * NativeLayout.maximumDeflateRatio else {
        throw fail(
          .invalidHeader,
          "block \(k) stores \(length) bytes for \(raw) uncompressed: it must be between 1 and \(raw) and "
            + "at least 1/\(NativeLayout.maximumDeflateRatio) of it (deflate's largest ratio)", tensor: name)
      }
      starts.append(sum)
      sum += length
      lengths.append(length)
    }
    guard sum == storedLength else {
      throw fail(
        .invalidTensorInfo, "the blocks add up to \(sum) bytes but \"stored_length\" is \(storedLength)", tensor: name)
    }
    return NativeDeflateLayout(
      level: level, shuffle: shuffle, blockSize: blockSize, blockLengths: lengths, blockStarts: starts)
  }
}

extension NativeStoredTensor {
  /// Stands in for an alias's tensor until its target is resolved.
  static let placeholder = NativeStoredTensor(
    dtype: .uint8, shape: [0], byteCount: 0, offset: 0, storedLength: 0, checksum: 0, digest: 0, deflate: nil)
}
