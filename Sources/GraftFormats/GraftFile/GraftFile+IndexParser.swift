import GraftCore

/// Validates the JSON index against the rules of `Formats/graft.md` §5 and §9.
struct GraftFileIndexParser {
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
    guard let text = value?.stringValue, let d = GraftFileLayout.parseDigest(text) else {
      throw fail(
        .invalidHeader, "\"\(field)\" must be a string 'xxh64:' followed by 16 lowercase hex digits", tensor: tensor)
    }
    return d
  }

  mutating func parse(
    _ json: JSONValue, major: Int, minor: Int, fileSize: Int, indexLength: Int, checksum: UInt64
  ) throws(GraftError) -> GraftFileHeader {
    let top = try members(json, what: "the index")
    guard let tensorList = top["tensors"]?.arrayValue else {
      throw fail(.invalidHeader, "the index has no \"tensors\" array")
    }
    var entries: [GraftFileEntry] = []
    entries.reserveCapacity(tensorList.count)
    var positions: [String: Int] = [:]
    var aliasNames: [(position: Int, target: String)] = []
    var cursor = GraftFileLayout.preambleSize
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
        entries.append(GraftFileEntry(name: name, aliasTarget: nil, stored: GraftFileStoredTensor.placeholder))
        continue
      }
      let stored = try parseStored(fields, name: name, cursor: cursor)
      guard let next = GraftFileLayout.aligned(stored.offset + stored.storedLength) else {
        throw fail(.overflow, "the tensor's end offset overflows", tensor: name)
      }
      cursor = next
      entries.append(GraftFileEntry(name: name, aliasTarget: nil, stored: stored))
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
    return GraftFileHeader(
      major: major, minor: minor, fileSize: fileSize, indexOffset: indexOffset, indexLength: indexLength,
      headerChecksum: checksum, entries: entries, metadata: metadata, lineage: lineage,
      contentDigest: XXHash64.format(digestValue))
  }

  func parseStored(_ fields: [String: JSONValue], name: String, cursor: Int) throws(GraftError) -> GraftFileStoredTensor
  {
    guard let dtypeName = fields["dtype"]?.stringValue else {
      throw fail(.invalidHeader, "the entry has no string \"dtype\"", tensor: name)
    }
    guard let dtype = DType(rawValue: dtypeName) else {
      throw fail(.unknownDType, "unknown dtype \"\(dtypeName)\"", tensor: name)
    }
    guard let dims = fields["shape"]?.arrayValue else {
      throw fail(.invalidHeader, "the entry has no \"shape\" array", tensor: name)
    }
    guard dims.count <= GraftFileLayout.maximumRank else {
      throw fail(
        .limitExceeded, "the shape has \(dims.count) dimensions, more than the cap of \(GraftFileLayout.maximumRank)",
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
        offset % GraftFileLayout.alignment != 0
        ? "is not a multiple of \(GraftFileLayout.alignment)"
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
    var tensor = GraftFileStoredTensor(
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
  ) throws(GraftError) -> GraftFileDeflateLayout {
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
    guard GraftFileLayout.blockSizeRange.contains(blockSize), blockSize % shuffle == 0 else {
      throw fail(
        .invalidHeader,
        "block size \(blockSize) must be within \(GraftFileLayout.blockSizeRange) and a multiple of the shuffle width",
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
      guard length >= 1, length <= raw, raw <= length * GraftFileLayout.maximumDeflateRatio else {
        throw fail(
          .invalidHeader,
          "block \(k) stores \(length) bytes for \(raw) uncompressed: it must be between 1 and \(raw) and "
            + "at least 1/\(GraftFileLayout.maximumDeflateRatio) of it (deflate's largest ratio)", tensor: name)
      }
      starts.append(sum)
      sum += length
      lengths.append(length)
    }
    guard sum == storedLength else {
      throw fail(
        .invalidTensorInfo, "the blocks add up to \(sum) bytes but \"stored_length\" is \(storedLength)", tensor: name)
    }
    return GraftFileDeflateLayout(
      level: level, shuffle: shuffle, blockSize: blockSize, blockLengths: lengths, blockStarts: starts)
  }
}
