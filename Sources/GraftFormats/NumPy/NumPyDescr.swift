public import GraftCore

/// NumPy dtype strings (`'<f4'`, `'|b1'`) and the byte shuffles NumPy data can need.
public enum NumPyDescr {
  private static let codes: [String: DType] = [
    "b1": .bool, "i1": .int8, "u1": .uint8, "i2": .int16, "u2": .uint16, "i4": .int32, "u4": .uint32, "i8": .int64,
    "u8": .uint64, "f2": .float16, "f4": .float32, "f8": .float64, "c8": .complex64, "c16": .complex128,
    "?": .bool, "b": .int8, "B": .uint8, "h": .int16, "H": .uint16, "i": .int32, "I": .uint32, "l": .int64,
    "L": .uint64, "q": .int64, "Q": .uint64, "e": .float16, "f": .float32, "d": .float64, "F": .complex64,
    "D": .complex128, "bool": .bool, "int8": .int8, "uint8": .uint8, "int16": .int16, "uint16": .uint16,
    "int32": .int32, "uint32": .uint32, "int64": .int64, "uint64": .uint64, "float16": .float16,
    "float32": .float32, "float64": .float64, "complex64": .complex64, "complex128": .complex128,
  ]

  /// Splits a descr into its byte order (`<`, `>`, `|`, `=`) and type code.
  public static func split(_ descr: String) -> (order: Character, code: String) {
    if let f = descr.first, "<>|=".contains(f) { return (f, String(descr.dropFirst())) }
    return ("=", descr)
  }

  /// The dtype of a descr such as `<f4` or `f8`; `nil` for void, structured and object types.
  public static func dtype(_ descr: String) -> DType? { codes[split(descr).code] }

  /// The little-endian descr NumPy writes for a dtype, or `nil` when NumPy has no such type (bf16, fp8, fp4).
  public static func descr(for dtype: DType) -> String? {
    switch dtype {
    case .bool: return "|b1"
    case .int8: return "|i1"
    case .uint8: return "|u1"
    case .int16: return "<i2"
    case .uint16: return "<u2"
    case .int32: return "<i4"
    case .uint32: return "<u4"
    case .int64: return "<i8"
    case .uint64: return "<u8"
    case .float16: return "<f2"
    case .float32: return "<f4"
    case .float64: return "<f8"
    case .complex64: return "<c8"
    case .complex128: return "<c16"
    default: return nil
    }
  }

  /// The unit whose bytes a byte-order change reverses: the element, or each half of a complex number.
  public static func swapWidth(_ dtype: DType) -> Int {
    let w = dtype.byteWidth ?? 1
    return dtype.isComplex ? w / 2 : w
  }

  /// Reverses the bytes of every `width`-byte element (complex numbers swap each half).
  public static func swapped(_ data: [UInt8], width: Int) -> [UInt8] {
    guard width > 1 else { return data }
    var out = data
    out.withUnsafeMutableBytes { $0.reverseBytes(ofElementsOfWidth: width) }
    return out
  }

  /// Reorders Fortran-order (column-major) data into C order.
  public static func fortranToC(_ data: [UInt8], shape: [Int], width: Int) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: data.count)
    let n = data.count / max(width, 1)
    // Fortran strides: the first dimension varies fastest.
    var fStrides = [Int](repeating: 1, count: shape.count)
    for d in stride(from: 1, to: shape.count, by: 1) { fStrides[d] = fStrides[d - 1] * shape[d - 1] }
    var index = RowMajorIndex(shape: shape)
    for c in 0..<n {
      let src = index.offset(strides: fStrides)
      for k in 0..<width { out[c * width + k] = data[src * width + k] }
      index.advance()
    }
    return out
  }
}
