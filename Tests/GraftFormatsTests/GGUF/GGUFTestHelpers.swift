import GraftCore
import GraftFormats
import TestSupport
import Testing

/// Builds GGUF bytes field by field, for crafted (often broken) files.
struct GGUFBytes {
  var bytes: [UInt8] = []

  /// Magic, version, counts.
  init(version: UInt32 = 3, tensors: UInt64, keyValues: UInt64) {
    bytes = Array("GGUF".utf8)
    u32(version)
    u64(tensors)
    u64(keyValues)
  }

  mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
  mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
  mutating func string(_ s: String) {
    u64(UInt64(s.utf8.count))
    bytes.append(contentsOf: s.utf8)
  }

  /// A key and its value type.
  mutating func key(_ key: String, _ type: GGUFValueType) {
    string(key)
    u32(type.rawValue)
  }

  /// A key whose value is an array of `count` elements of `type` (elements not included).
  mutating func arrayHeader(_ name: String, of type: GGUFValueType, count: UInt64) {
    key(name, .array)
    u32(type.rawValue)
    u64(count)
  }

  /// A key with a u32 value.
  mutating func kvU32(_ name: String, _ value: UInt32) {
    key(name, .uint32)
    u32(value)
  }

  /// A key with a string value.
  mutating func kvString(_ name: String, _ value: String) {
    key(name, .string)
    string(value)
  }

  /// A tensor info (dimensions in ggml order).
  mutating func tensor(_ name: String, dims: [UInt64], type: UInt32, offset: UInt64) {
    string(name)
    u32(UInt32(dims.count))
    for d in dims { u64(d) }
    u32(type)
    u64(offset)
  }

  /// Zero padding to a multiple of `alignment`.
  mutating func pad(_ alignment: Int = 32) {
    while bytes.count % alignment != 0 { bytes.append(0) }
  }

  mutating func data(_ count: Int, value: UInt8 = 0) { bytes.append(contentsOf: repeatElement(value, count: count)) }
}

/// Parses bytes as a whole GGUF file held in memory.
func parseGGUF(_ bytes: [UInt8]) -> Result<GGUFFile, GraftError> {
  bytes.withUnsafeBytes { raw in Result { () throws(GraftError) in try GGUFFile.parse(bytes: raw, path: "mem.gguf") } }
}

/// The error parsing `bytes` gives; records an issue when parsing succeeds.
func ggufError(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) -> GraftError? {
  switch parseGGUF(bytes) {
  case .success:
    Issue.record("expected the GGUF bytes to be refused", sourceLocation: sourceLocation)
    return nil
  case .failure(let error): return error
  }
}

/// Reads a raw little-endian float32 file.
func readFloats(_ path: String) throws -> [Float] {
  let bytes = try FileSystem.readAll(path)
  return (0..<(bytes.count / 4)).map { i in
    Float(
      bitPattern: UInt32(bytes[4 * i]) | UInt32(bytes[4 * i + 1]) << 8 | UInt32(bytes[4 * i + 2]) << 16
        | UInt32(bytes[4 * i + 3]) << 24)
  }
}

/// The stored bytes of a GGUF tensor.
func storedBytes(_ file: GGUFFile, _ name: String) throws -> [UInt8] {
  guard let info = file.tensorInfo(named: name) else { throw GraftError(.tensorNotFound, "no \(name)") }
  let stored = try file.storedBytes(of: info)
  return Array(stored.contiguousBytes ?? UnsafeRawBufferPointer(start: nil, count: 0))
}

/// Indices where two float arrays differ in bits, with the first few listed.
func bitDifferences(_ a: [Float], _ b: [Float]) -> (count: Int, first: [Int]) {
  var first: [Int] = []
  var count = 0
  for i in 0..<min(a.count, b.count) where a[i].bitPattern != b[i].bitPattern {
    count += 1
    if first.count < 5 { first.append(i) }
  }
  return (count + abs(a.count - b.count), first)
}

/// Root mean square error in Double.
func rmse(_ a: [Float], _ b: [Float]) -> Double {
  var sum = 0.0
  for (x, y) in zip(a, b) { sum += (Double(x) - Double(y)) * (Double(x) - Double(y)) }
  return (sum / Double(max(a.count, 1))).squareRoot()
}

/// Encodes values with Graft's quantizer.
func quantize(_ values: [Float], as type: GGMLType) throws -> [UInt8] {
  var out = [UInt8](repeating: 0, count: values.count / type.blockElements * type.blockBytes)
  let bad = try values.withUnsafeBufferPointer { src in
    try out.withUnsafeMutableBytes { dst -> Int? in
      guard let from = src.baseAddress, let to = dst.baseAddress else { return nil }
      return try GGUFQuantize.encode(type, values: from, blockCount: values.count / type.blockElements, into: to)
    }
  }
  #expect(bad == nil)
  return out
}

/// Decodes blocks with Graft's dequantizer.
func dequantize(_ blocks: [UInt8], as type: GGMLType) throws -> [Float] {
  let count = blocks.count / type.blockBytes
  var out = [Float](repeating: 0, count: count * type.blockElements)
  try blocks.withUnsafeBytes { src in
    try out.withUnsafeMutableBufferPointer { dst in
      guard let from = src.baseAddress, let to = dst.baseAddress else { return }
      try GGUFDequantize.decode(type, blocks: from, blockCount: count, into: to)
    }
  }
  return out
}

/// Parses a JSON fixture.
func readJSON(_ path: String) throws -> JSONValue {
  try JSONParser.parse(String(decoding: try FileSystem.readAll(path), as: UTF8.self))
}
