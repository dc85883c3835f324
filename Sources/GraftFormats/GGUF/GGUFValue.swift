public import GraftCore

/// The type of a GGUF metadata value (`gguf_type`).
public enum GGUFValueType: UInt32, Sendable, CaseIterable, Hashable, CustomStringConvertible {
  /// u8.
  case uint8 = 0
  /// i8.
  case int8 = 1
  /// u16.
  case uint16 = 2
  /// i16.
  case int16 = 3
  /// u32.
  case uint32 = 4
  /// i32.
  case int32 = 5
  /// f32.
  case float32 = 6
  /// One byte, 0 or 1.
  case bool = 7
  /// u64 length + UTF-8 bytes.
  case string = 8
  /// u32 element type + u64 count + elements.
  case array = 9
  /// u64.
  case uint64 = 10
  /// i64.
  case int64 = 11
  /// f64.
  case float64 = 12

  /// The spelling gguf-py uses (`UINT32`).
  public var name: String {
    switch self {
    case .uint8: return "UINT8"
    case .int8: return "INT8"
    case .uint16: return "UINT16"
    case .int16: return "INT16"
    case .uint32: return "UINT32"
    case .int32: return "INT32"
    case .float32: return "FLOAT32"
    case .bool: return "BOOL"
    case .string: return "STRING"
    case .array: return "ARRAY"
    case .uint64: return "UINT64"
    case .int64: return "INT64"
    case .float64: return "FLOAT64"
    }
  }

  /// The spelling gguf-py uses.
  public var description: String { name }

  /// Parses a gguf-py spelling (`UINT32`).
  public init?(name: String) {
    guard let match = GGUFValueType.allCases.first(where: { $0.name == name }) else { return nil }
    self = match
  }

  /// Bytes per value for fixed-size types; `nil` for strings and arrays.
  public var fixedSize: Int? {
    switch self {
    case .uint8, .int8, .bool: return 1
    case .uint16, .int16: return 2
    case .uint32, .int32, .float32: return 4
    case .uint64, .int64, .float64: return 8
    case .string, .array: return nil
    }
  }

  /// The fewest bytes one value of this type can occupy in a file (a string's length, an array's type and count).
  var minimumEncodedSize: Int { fixedSize ?? (self == .string ? 8 : 12) }
}

/// A typed GGUF metadata value.
///
/// Numbers keep their exact GGUF type, so a value read and written back is byte-identical and llama.cpp finds the
/// types it requires (`u32` counts, `f32` epsilons).
public enum GGUFValue: Sendable, Equatable {
  /// u8.
  case uint8(UInt8)
  /// i8.
  case int8(Int8)
  /// u16.
  case uint16(UInt16)
  /// i16.
  case int16(Int16)
  /// u32.
  case uint32(UInt32)
  /// i32.
  case int32(Int32)
  /// f32.
  case float32(Float)
  /// bool.
  case bool(Bool)
  /// UTF-8 string.
  case string(String)
  /// An array.
  case array(GGUFArray)
  /// u64.
  case uint64(UInt64)
  /// i64.
  case int64(Int64)
  /// f64.
  case float64(Double)

  /// The value's type.
  public var type: GGUFValueType {
    switch self {
    case .uint8: return .uint8
    case .int8: return .int8
    case .uint16: return .uint16
    case .int16: return .int16
    case .uint32: return .uint32
    case .int32: return .int32
    case .float32: return .float32
    case .bool: return .bool
    case .string: return .string
    case .array: return .array
    case .uint64: return .uint64
    case .int64: return .int64
    case .float64: return .float64
    }
  }

  /// The value as an integer, for any integer type that fits `Int`.
  public var intValue: Int? {
    switch self {
    case .uint8(let v): return Int(v)
    case .int8(let v): return Int(v)
    case .uint16(let v): return Int(v)
    case .int16(let v): return Int(v)
    case .uint32(let v): return Int(v)
    case .int32(let v): return Int(v)
    case .uint64(let v): return Int(exactly: v)
    case .int64(let v): return Int(v)
    default: return nil
    }
  }

  /// The value as a Double, for any number type.
  public var doubleValue: Double? {
    switch self {
    case .float32(let v): return Double(v)
    case .float64(let v): return v
    default: return intValue.map(Double.init)
    }
  }

  /// The string, for string values.
  public var stringValue: String? {
    if case .string(let s) = self { return s }
    return nil
  }

  /// The array, for array values.
  public var arrayValue: GGUFArray? {
    if case .array(let a) = self { return a }
    return nil
  }
}

/// A GGUF array: an element type and its elements.
///
/// Numbers are kept as their little-endian bytes (a slice of the mapped file for arrays read from disk), so a
/// 262,144-entry `token_type` array costs no per-element allocation; strings and nested arrays are decoded.
public struct GGUFArray: Sendable, Equatable {
  /// The storage of the elements.
  enum Storage: Sendable {
    /// Fixed-size elements, little-endian.
    case numbers(any TensorByteSource)
    /// Strings.
    case strings([String])
    /// Nested arrays (each with its own element type).
    case arrays([GGUFArray])
  }

  /// The element type.
  public let elementType: GGUFValueType
  /// The number of elements.
  public let count: Int
  let storage: Storage

  init(elementType: GGUFValueType, count: Int, storage: Storage) {
    self.elementType = elementType
    self.count = count
    self.storage = storage
  }

  /// An array of strings.
  public init(strings: [String]) {
    self.init(elementType: .string, count: strings.count, storage: .strings(strings))
  }

  /// An array of arrays.
  public init(arrays: [GGUFArray]) {
    self.init(elementType: .array, count: arrays.count, storage: .arrays(arrays))
  }

  /// An array of fixed-size values, all of `type`.
  ///
  /// - Throws: `invalidArgument` when `type` is a string or array type or a value has another type.
  public init(_ type: GGUFValueType, values: [GGUFValue]) throws(GraftError) {
    guard let size = type.fixedSize else {
      throw GraftError(.invalidArgument, "GGUFArray(_:values:) takes fixed-size types; use strings: or arrays:")
    }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(values.count * size)
    for v in values {
      guard v.type == type else {
        throw GraftError(.invalidArgument, "an array of \(type) cannot hold a \(v.type) value")
      }
      GGUFEncoding.appendScalar(v, to: &bytes)
    }
    self.init(elementType: type, count: values.count, storage: .numbers(HeapBytes(bytes)))
  }

  /// An array of i32 values (token types).
  public init(int32 values: [Int32]) {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(values.count * 4)
    for v in values { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    self.init(elementType: .int32, count: values.count, storage: .numbers(HeapBytes(bytes)))
  }

  /// An array of f32 values (token scores).
  public init(float32 values: [Float]) {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(values.count * 4)
    for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
    self.init(elementType: .float32, count: values.count, storage: .numbers(HeapBytes(bytes)))
  }

  /// The element at `index` (`0 ..< count`).
  public subscript(index: Int) -> GGUFValue {
    precondition(index >= 0 && index < count, "GGUF array index out of range")
    switch storage {
    case .strings(let s): return .string(s[index])
    case .arrays(let a): return .array(a[index])
    case .numbers(let source):
      let size = elementType.fixedSize ?? 1
      var raw: UInt64 = 0
      withUnsafeMutableBytes(of: &raw) { dst in
        try? source.copyBytes(
          in: (index * size)..<((index + 1) * size), into: UnsafeMutableRawBufferPointer(rebasing: dst[0..<size]))
      }
      return GGUFEncoding.scalar(elementType, littleEndianBits: UInt64(littleEndian: raw))
    }
  }

  /// All elements (allocates one enum per element: for small arrays and tests).
  public var values: [GGUFValue] { (0..<count).map { self[$0] } }

  /// The strings, for string arrays.
  public var strings: [String]? {
    if case .strings(let s) = storage { return s }
    return nil
  }

  /// The nested arrays, for arrays of arrays.
  public var arrays: [GGUFArray]? {
    if case .arrays(let a) = storage { return a }
    return nil
  }

  /// The little-endian element bytes, for arrays of fixed-size values.
  public func numberBytes() throws -> [UInt8]? {
    guard case .numbers(let source) = storage else { return nil }
    var out = [UInt8](repeating: 0, count: source.byteCount)
    try out.withUnsafeMutableBytes { try source.copyBytes(in: 0..<source.byteCount, into: $0) }
    return out
  }

  /// Equal element types and elements.
  public static func == (a: GGUFArray, b: GGUFArray) -> Bool {
    guard a.elementType == b.elementType, a.count == b.count else { return false }
    switch (a.storage, b.storage) {
    case (.strings(let x), .strings(let y)): return x == y
    case (.arrays(let x), .arrays(let y)): return x == y
    case (.numbers, .numbers): return (try? a.numberBytes()) == (try? b.numberBytes())
    default: return false
    }
  }
}

/// A key and its value, with where the key was read (for error messages).
public struct GGUFKeyValue: Sendable, Equatable {
  /// The key (`general.architecture`).
  public var key: String
  /// The value.
  public var value: GGUFValue
  /// The absolute file offset of the key's record, or `nil` for values built in memory.
  public var offset: Int?

  /// Creates a key-value pair.
  public init(_ key: String, _ value: GGUFValue, offset: Int? = nil) {
    self.key = key
    self.value = value
    self.offset = offset
  }
}
