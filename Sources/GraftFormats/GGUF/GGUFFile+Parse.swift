import GraftCore

extension GGUFFile {
  /// The GGUF magic, `GGUF` (u32 0x46554747 little-endian).
  public static let magic: [UInt8] = Array("GGUF".utf8)

  /// Parses a whole file; numeric arrays reference `region` when given, else are copied.
  static func parse(
    _ bytes: UnsafeRawBufferPointer, region: MappedRegion?, path: String
  ) throws(GraftError) -> GGUFFile {
    var parser = GGUFParser(reader: ByteReader(bytes, file: path), region: region)
    return try parser.parseFile(path: path)
  }
}

/// The GGUF header parser: typed parse functions over a ``ByteReader``, checked arithmetic on every number read,
/// errors at the byte offset of the offending field.
struct GGUFParser {
  var reader: ByteReader
  let region: MappedRegion?
  /// Array elements left before ``GGUFLimits/maximumTotalArrayElements``.
  var arrayBudget = GGUFLimits.maximumTotalArrayElements

  init(reader: ByteReader, region: MappedRegion?) {
    self.reader = reader
    self.region = region
  }

  func fail(_ code: GraftError.Code, _ message: String, at offset: Int, tensor: String? = nil) -> GraftError {
    GraftError(code, message, file: reader.file, tensor: tensor, byteOffset: offset)
  }

  // MARK: - File

  mutating func parseFile(path: String) throws(GraftError) -> GGUFFile {
    let version = try parseMagicAndVersion()
    let tensorCount = try parseCount(
      "tensor count", cap: GGUFLimits.maximumTensorCount, minimumItemSize: 8 + 1 + 4 + 4 + 8)
    let kvCount = try parseCount(
      "key-value count", cap: GGUFLimits.maximumKeyValueCount, minimumItemSize: 8 + 1 + 4 + 1)
    var keyValues: [GGUFKeyValue] = []
    keyValues.reserveCapacity(kvCount)
    var keys = Set<String>()
    for _ in 0..<kvCount {
      let start = reader.absoluteOffset
      let kv = try parseKeyValue()
      guard keys.insert(kv.key).inserted else {
        throw fail(.duplicateKey, "the key '\(kv.key)' appears twice", at: start)
      }
      keyValues.append(kv)
    }
    let alignment = try Self.alignment(of: keyValues, file: reader.file)
    var tensors: [GGUFTensorInfo] = []
    tensors.reserveCapacity(tensorCount)
    var names = Set<String>()
    for _ in 0..<tensorCount {
      let info = try parseTensorInfo()
      guard names.insert(info.name).inserted else {
        throw fail(.duplicateKey, "the tensor name appears twice", at: info.infoOffset, tensor: info.name)
      }
      tensors.append(info)
    }
    let endOfInfos = reader.absoluteOffset
    guard let dataOffset = Self.padded(endOfInfos, to: alignment) else {
      throw fail(.overflow, "the data section offset overflows", at: endOfInfos)
    }
    let layout = try checkLayout(tensors, dataOffset: dataOffset, alignment: alignment)
    return GGUFFile(
      path: path, version: version, keyValues: keyValues, tensors: tensors, alignment: alignment,
      dataOffset: dataOffset, fileSize: reader.bytes.count, hasGGMLLayout: layout, region: region)
  }

  mutating func parseMagicAndVersion() throws(GraftError) -> Int {
    try reader.require(8, for: "the GGUF magic and version")
    let magic = try reader.readBytes(4)
    guard Array(magic) == GGUFFile.magic else {
      throw fail(.unrecognizedFormat, "not a GGUF file: the first bytes are not 'GGUF'", at: 0)
    }
    let raw = try reader.readLittleEndian(UInt32.self)
    if raw & 0xFFFF == 0, (2...3).contains(raw.byteSwapped) {
      throw fail(
        .unsupported,
        "this is a big-endian GGUF file (version \(raw.byteSwapped) stored big-endian); Graft reads little-endian "
          + "GGUF only: convert it with gguf-py's gguf_convert_endian.py", at: 4)
    }
    switch raw {
    case 2, 3: return Int(raw)
    case 1:
      throw fail(
        .unsupported, "GGUF version 1 (32-bit lengths) is not supported, as in ggml; re-convert the model", at: 4)
    default:
      throw fail(.unsupported, "unknown GGUF version \(raw); Graft reads versions 2 and 3", at: 4)
    }
  }

  /// A u64 count, capped absolutely and by the bytes left at `minimumItemSize` bytes per item.
  mutating func parseCount(_ what: String, cap: Int, minimumItemSize: Int) throws(GraftError) -> Int {
    let at = reader.absoluteOffset
    let raw = try reader.readLittleEndian(UInt64.self)
    guard raw <= UInt64(cap) else {
      throw fail(.limitExceeded, "the \(what) \(raw) exceeds the cap of \(cap) (GGUFLimits)", at: at)
    }
    let count = Int(raw)
    guard let need = Checked.multiply(count, minimumItemSize), need <= reader.remaining else {
      throw fail(
        .truncated,
        "the \(what) \(count) needs at least \(minimumItemSize) bytes per item but only \(reader.remaining) bytes remain",
        at: at)
    }
    return count
  }

  // MARK: - Strings and values

  /// A u64-length UTF-8 string of at most `maximumLength` bytes.
  mutating func parseString(_ what: String, maximumLength: Int) throws(GraftError) -> String {
    let at = reader.absoluteOffset
    let raw = try reader.readLittleEndian(UInt64.self)
    guard raw <= UInt64(maximumLength) else {
      throw fail(.limitExceeded, "\(what) is \(raw) bytes long; the cap is \(maximumLength) (GGUFLimits)", at: at)
    }
    let length = Int(raw)
    guard length <= reader.remaining else {
      throw fail(.truncated, "\(what) is \(length) bytes long but only \(reader.remaining) bytes remain", at: at)
    }
    return try reader.readUTF8(length, what: what)
  }

  mutating func parseKeyValue() throws(GraftError) -> GGUFKeyValue {
    let start = reader.absoluteOffset
    let key = try parseString("a metadata key", maximumLength: GGUFLimits.maximumKeyLength)
    guard !key.isEmpty else { throw fail(.invalidHeader, "a metadata key is empty", at: start) }
    let type = try parseValueType(for: key)
    let value = try parseValue(type, key: key, depth: 0)
    return GGUFKeyValue(key, value, offset: start)
  }

  mutating func parseValueType(for key: String) throws(GraftError) -> GGUFValueType {
    let at = reader.absoluteOffset
    let raw = try reader.readLittleEndian(UInt32.self)
    guard let type = GGUFValueType(rawValue: raw) else {
      throw fail(.invalidHeader, "the key '\(key)' has unknown value type \(raw) (GGUF types are 0–12)", at: at)
    }
    return type
  }

  mutating func parseValue(_ type: GGUFValueType, key: String, depth: Int) throws(GraftError) -> GGUFValue {
    switch type {
    case .string:
      return .string(try parseString("the value of '\(key)'", maximumLength: GGUFLimits.maximumStringLength))
    case .array:
      return .array(try parseArray(key: key, depth: depth + 1))
    case .bool:
      let at = reader.absoluteOffset
      let b = try reader.readByte()
      guard b <= 1 else { throw fail(.invalidHeader, "the bool '\(key)' is \(b); GGUF bools are 0 or 1", at: at) }
      return .bool(b == 1)
    default:
      let size = type.fixedSize ?? 1
      try reader.require(size, for: "the \(type) value of '\(key)'")
      var bits: UInt64 = 0
      let raw = try reader.readBytes(size)
      withUnsafeMutableBytes(of: &bits) { $0.copyMemory(from: raw) }
      return GGUFEncoding.scalar(type, littleEndianBits: UInt64(littleEndian: bits))
    }
  }

  mutating func parseArray(key: String, depth: Int) throws(GraftError) -> GGUFArray {
    let at = reader.absoluteOffset
    guard depth <= GGUFLimits.maximumArrayDepth else {
      throw fail(.limitExceeded, "'\(key)' nests arrays deeper than \(GGUFLimits.maximumArrayDepth)", at: at)
    }
    let elementType = try parseValueType(for: key)
    let countAt = reader.absoluteOffset
    let raw = try reader.readLittleEndian(UInt64.self)
    guard raw <= UInt64(GGUFLimits.maximumArrayCount) else {
      throw fail(
        .limitExceeded, "the array '\(key)' declares \(raw) elements; the cap is \(GGUFLimits.maximumArrayCount)",
        at: countAt)
    }
    let count = Int(raw)
    let minimum = elementType.minimumEncodedSize
    guard let need = Checked.multiply(count, minimum), need <= reader.remaining else {
      throw fail(
        .truncated,
        "the array '\(key)' declares \(count) \(elementType) elements (at least \(minimum) bytes each) but only "
          + "\(reader.remaining) bytes remain", at: countAt)
    }
    guard count <= arrayBudget else {
      throw fail(
        .limitExceeded,
        "the array '\(key)' has \(count) elements, over the \(GGUFLimits.maximumTotalArrayElements) array elements "
          + "a file may hold in all (GGUFLimits)", at: countAt)
    }
    arrayBudget -= count
    switch elementType {
    case .string:
      var strings: [String] = []
      strings.reserveCapacity(count)
      for _ in 0..<count {
        strings.append(try parseString("an element of '\(key)'", maximumLength: GGUFLimits.maximumStringLength))
      }
      return GGUFArray(strings: strings)
    case .array:
      var arrays: [GGUFArray] = []
      arrays.reserveCapacity(count)
      for _ in 0..<count { arrays.append(try parseArray(key: key, depth: depth + 1)) }
      return GGUFArray(arrays: arrays)
    default:
      let start = reader.absoluteOffset
      let raw = try reader.readBytes(count * minimum)
      if elementType == .bool, let bad = raw.firstIndex(where: { $0 > 1 }) {
        throw fail(.invalidHeader, "element \(bad) of the bool array '\(key)' is \(raw[bad])", at: start + bad)
      }
      let source: any TensorByteSource =
        region.map { MappedBytes(region: $0, offset: start, count: raw.count) } ?? HeapBytes(copying: raw)
      return GGUFArray(elementType: elementType, count: count, storage: .numbers(source))
    }
  }

  // MARK: - Tensor infos

  mutating func parseTensorInfo() throws(GraftError) -> GGUFTensorInfo {
    let start = reader.absoluteOffset
    let name = try parseString("a tensor name", maximumLength: GGUFLimits.maximumKeyLength)
    let dimsAt = reader.absoluteOffset
    let rank = try reader.readLittleEndian(UInt32.self)
    guard rank <= UInt32(GGUFLimits.maximumDimensions) else {
      throw fail(
        .limitExceeded, "has \(rank) dimensions; ggml allows at most \(GGUFLimits.maximumDimensions)", at: dimsAt,
        tensor: name)
    }
    var dims: [Int] = []
    for _ in 0..<Int(rank) {
      let at = reader.absoluteOffset
      let d = try reader.readLittleEndian(UInt64.self)
      guard d <= UInt64(Int64.max) else {
        throw fail(
          .invalidTensorInfo, "dimension \(dims.count) is \(d), beyond ggml's int64 range", at: at, tensor: name)
      }
      dims.append(Int(d))
    }
    let typeAt = reader.absoluteOffset
    let type: GGMLType
    do { type = try GGMLType.decode(try reader.readLittleEndian(UInt32.self)) } catch {
      throw GraftError(error.code, error.message, file: reader.file, tensor: name, byteOffset: typeAt)
    }
    let offsetAt = reader.absoluteOffset
    let rawOffset = try reader.readLittleEndian(UInt64.self)
    guard let elements = Checked.product(dims) else {
      throw fail(
        .overflow, "shape \(dims) (ggml order) has more elements than fit in 64 bits", at: dimsAt, tensor: name)
    }
    if let first = dims.first, first % type.blockElements != 0 {
      throw fail(
        .invalidTensorInfo,
        "has \(first) elements per row, not a multiple of the \(type.name) block size \(type.blockElements)",
        at: dimsAt, tensor: name)
    }
    guard let bytes = type.byteCount(elements: elements) else {
      throw fail(.overflow, "\(elements) elements of \(type.name) overflow a byte count", at: dimsAt, tensor: name)
    }
    guard rawOffset <= UInt64(Int.max) else {
      throw fail(.invalidOffset, "offset \(rawOffset) is beyond any file", at: offsetAt, tensor: name)
    }
    return GGUFTensorInfo(
      name: name, type: type, dimensions: dims, offset: Int(rawOffset), elementCount: elements, byteCount: bytes,
      infoOffset: start)
  }

  // MARK: - Layout

  static func alignment(of keyValues: [GGUFKeyValue], file: String?) throws(GraftError) -> Int {
    guard let kv = keyValues.first(where: { $0.key == "general.alignment" }) else { return GGUFFile.defaultAlignment }
    guard case .uint32(let a) = kv.value else {
      throw GraftError(
        .invalidHeader, "general.alignment must be UINT32 (as ggml requires), not \(kv.value.type)", file: file,
        byteOffset: kv.offset)
    }
    guard a > 0, a & (a - 1) == 0, Int(a) <= GGUFLimits.maximumAlignment else {
      throw GraftError(
        .invalidHeader, "general.alignment \(a) is not a power of two ≤ \(GGUFLimits.maximumAlignment)", file: file,
        byteOffset: kv.offset)
    }
    return Int(a)
  }

  /// `value` rounded up to a multiple of `alignment`, or `nil` on overflow.
  static func padded(_ value: Int, to alignment: Int) -> Int? {
    guard let sum = Checked.add(value, alignment - 1) else { return nil }
    return sum / alignment * alignment
  }

  /// Checks that every tensor is aligned, inside the file and overlaps no other; returns whether the layout is
  /// ggml's (offsets = running sum of padded sizes).
  func checkLayout(_ tensors: [GGUFTensorInfo], dataOffset: Int, alignment: Int) throws(GraftError) -> Bool {
    let fileSize = reader.bytes.count
    var canonical = true
    var expected = 0
    for t in tensors {
      guard t.offset % alignment == 0 else {
        throw fail(
          .invalidOffset, "offset \(t.offset) is not a multiple of the alignment \(alignment)", at: t.infoOffset,
          tensor: t.name)
      }
      guard let start = Checked.add(dataOffset, t.offset), let end = Checked.add(start, t.byteCount), end <= fileSize
      else {
        throw fail(
          .invalidOffset,
          "data at offset \(t.offset) + \(t.byteCount) bytes (from the data section at \(dataOffset)) runs past the end "
            + "of the \(fileSize)-byte file", at: t.infoOffset, tensor: t.name)
      }
      if t.offset != expected { canonical = false }
      expected = Checked.add(expected, t.byteCount).flatMap { Self.padded($0, to: alignment) } ?? Int.max
    }
    let sorted = tensors.sorted { $0.offset < $1.offset }
    for (a, b) in zip(sorted, sorted.dropFirst()) where a.offset + a.byteCount > b.offset {
      throw fail(
        .invalidOffset,
        "overlaps tensor '\(a.name)' (bytes \(a.offset)..<\(a.offset + a.byteCount) of the data section)",
        at: b.infoOffset, tensor: b.name)
    }
    return canonical
  }
}
