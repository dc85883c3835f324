import GraftCore

/// Little-endian encoding of GGUF values, shared by the reader (decoding array elements) and the writer.
enum GGUFEncoding {
  /// Appends a little-endian fixed-width integer.
  static func append<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
    withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
  }

  /// Appends a GGUF string: u64 length + UTF-8 bytes.
  static func appendString(_ text: String, to bytes: inout [UInt8]) {
    let utf8 = Array(text.utf8)
    append(UInt64(utf8.count), to: &bytes)
    bytes.append(contentsOf: utf8)
  }

  /// Appends a fixed-size value (no type tag); strings and arrays append nothing.
  static func appendScalar(_ value: GGUFValue, to bytes: inout [UInt8]) {
    switch value {
    case .uint8(let v): bytes.append(v)
    case .int8(let v): append(v, to: &bytes)
    case .uint16(let v): append(v, to: &bytes)
    case .int16(let v): append(v, to: &bytes)
    case .uint32(let v): append(v, to: &bytes)
    case .int32(let v): append(v, to: &bytes)
    case .float32(let v): append(v.bitPattern, to: &bytes)
    case .bool(let v): bytes.append(v ? 1 : 0)
    case .uint64(let v): append(v, to: &bytes)
    case .int64(let v): append(v, to: &bytes)
    case .float64(let v): append(v.bitPattern, to: &bytes)
    case .string, .array: break
    }
  }

  /// Appends a value without its type tag (the payload a KV record or an array element holds).
  static func appendPayload(_ value: GGUFValue, to bytes: inout [UInt8]) throws {
    switch value {
    case .string(let s): appendString(s, to: &bytes)
    case .array(let a): try appendArray(a, to: &bytes)
    default: appendScalar(value, to: &bytes)
    }
  }

  /// Appends an array: u32 element type, u64 count, elements.
  static func appendArray(_ array: GGUFArray, to bytes: inout [UInt8]) throws {
    append(array.elementType.rawValue, to: &bytes)
    append(UInt64(array.count), to: &bytes)
    switch array.storage {
    case .strings(let strings): for s in strings { appendString(s, to: &bytes) }
    case .arrays(let arrays): for a in arrays { try appendArray(a, to: &bytes) }
    case .numbers(let source):
      let start = bytes.count
      bytes.append(contentsOf: repeatElement(0, count: source.byteCount))
      try bytes.withUnsafeMutableBytes { raw in
        try source.copyBytes(
          in: 0..<source.byteCount,
          into: UnsafeMutableRawBufferPointer(rebasing: raw[start..<(start + source.byteCount)]))
      }
    }
  }

  /// Appends a whole KV record: key, u32 type, payload.
  static func appendRecord(_ kv: GGUFKeyValue, to bytes: inout [UInt8]) throws {
    appendString(kv.key, to: &bytes)
    append(kv.value.type.rawValue, to: &bytes)
    try appendPayload(kv.value, to: &bytes)
  }

  /// A fixed-size value from its little-endian bits (in the low bytes of `bits`).
  static func scalar(_ type: GGUFValueType, littleEndianBits bits: UInt64) -> GGUFValue {
    switch type {
    case .uint8: return .uint8(UInt8(truncatingIfNeeded: bits))
    case .int8: return .int8(Int8(truncatingIfNeeded: bits))
    case .uint16: return .uint16(UInt16(truncatingIfNeeded: bits))
    case .int16: return .int16(Int16(truncatingIfNeeded: bits))
    case .uint32: return .uint32(UInt32(truncatingIfNeeded: bits))
    case .int32: return .int32(Int32(truncatingIfNeeded: bits))
    case .float32: return .float32(Float(bitPattern: UInt32(truncatingIfNeeded: bits)))
    case .bool: return .bool(bits & 0xFF != 0)
    case .uint64: return .uint64(bits)
    case .int64: return .int64(Int64(bitPattern: bits))
    case .float64: return .float64(Double(bitPattern: bits))
    case .string, .array: return .uint8(0)
    }
  }
}
