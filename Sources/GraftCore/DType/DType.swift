/// A tensor element type.
///
/// The raw value is the safetensors spelling. Cases are declared in the safetensors crate's enum order, which is
/// the writer's sort key (tensors are written by *descending* ``sortRank``, then by name).
public enum DType: String, Sendable, CaseIterable, Hashable, Codable {
  /// Boolean, one byte (0 or 1).
  case bool = "BOOL"
  /// MXFP4 E2M1, two values per byte (low nibble first).
  case float4E2M1 = "F4"
  /// MXFP6 E2M3, 6 bits (storage only).
  case float6E2M3 = "F6_E2M3"
  /// MXFP6 E3M2, 6 bits (storage only).
  case float6E3M2 = "F6_E3M2"
  /// Unsigned 8-bit integer.
  case uint8 = "U8"
  /// Signed 8-bit integer.
  case int8 = "I8"
  /// FP8 E5M2 (IEEE-like, with infinities), torch `float8_e5m2`.
  case float8E5M2 = "F8_E5M2"
  /// FP8 E4M3, finite-only (NaN = S.1111.111), torch `float8_e4m3fn`.
  case float8E4M3 = "F8_E4M3"
  /// FP8 E8M0, exponent only, unsigned (NaN = 0xFF), torch `float8_e8m0fnu`.
  case float8E8M0 = "F8_E8M0"
  /// FP8 E4M3 "FNUZ" (no negative zero, NaN = 0x80), torch `float8_e4m3fnuz`.
  case float8E4M3FNUZ = "F8_E4M3FNUZ"
  /// FP8 E5M2 "FNUZ" (no negative zero, NaN = 0x80), torch `float8_e5m2fnuz`.
  case float8E5M2FNUZ = "F8_E5M2FNUZ"
  /// Signed 16-bit integer.
  case int16 = "I16"
  /// Unsigned 16-bit integer.
  case uint16 = "U16"
  /// IEEE binary16.
  case float16 = "F16"
  /// bfloat16 (the top half of a binary32).
  case bfloat16 = "BF16"
  /// Signed 32-bit integer.
  case int32 = "I32"
  /// Unsigned 32-bit integer.
  case uint32 = "U32"
  /// IEEE binary32.
  case float32 = "F32"
  /// Complex of two binary32 (real, imaginary).
  case complex64 = "C64"
  /// IEEE binary64.
  case float64 = "F64"
  /// Signed 64-bit integer.
  case int64 = "I64"
  /// Unsigned 64-bit integer.
  case uint64 = "U64"
  /// Complex of two binary64. Not a safetensors dtype (PyTorch `complex128`); `.graft`, `.pth` and `.npy` store it.
  case complex128 = "C128"

  /// Bits per element.
  public var bitWidth: Int {
    switch self {
    case .float4E2M1: return 4
    case .float6E2M3, .float6E3M2: return 6
    case .bool, .uint8, .int8, .float8E5M2, .float8E4M3, .float8E8M0, .float8E4M3FNUZ, .float8E5M2FNUZ: return 8
    case .int16, .uint16, .float16, .bfloat16: return 16
    case .int32, .uint32, .float32: return 32
    case .complex64, .float64, .int64, .uint64: return 64
    case .complex128: return 128
    }
  }

  /// Bytes per element for whole-byte types; `nil` for sub-byte types (F4, F6).
  public var byteWidth: Int? { bitWidth % 8 == 0 ? bitWidth / 8 : nil }

  /// The position in the safetensors crate's `Dtype` enum (its writer sorts by this, descending).
  public var sortRank: Int { DType.allCases.firstIndex(of: self) ?? 0 }

  /// Whether the type is a real floating-point type (including fp8/fp6/fp4).
  public var isFloatingPoint: Bool {
    switch self {
    case .float4E2M1, .float6E2M3, .float6E3M2, .float8E5M2, .float8E4M3, .float8E8M0, .float8E4M3FNUZ,
      .float8E5M2FNUZ, .float16, .bfloat16, .float32, .float64:
      return true
    default: return false
    }
  }

  /// Whether the type is complex.
  public var isComplex: Bool { self == .complex64 || self == .complex128 }

  /// Whether the type is an integer type (bool excluded).
  public var isInteger: Bool {
    switch self {
    case .uint8, .int8, .int16, .uint16, .int32, .uint32, .int64, .uint64: return true
    default: return false
    }
  }

  /// Whether values of this type can be converted to and from `Float`/`Double` element by element.
  public var isNumeric: Bool { self != .float6E2M3 && self != .float6E3M2 && !isComplex }

  /// Whether the type is a safetensors dtype.
  public var isSafetensorsType: Bool { self != .complex128 }

  /// The PyTorch name (`torch.<name>`), or `nil` when PyTorch has no such dtype.
  public var torchName: String? {
    switch self {
    case .bool: return "bool"
    case .float4E2M1: return "float4_e2m1fn_x2"
    case .float6E2M3, .float6E3M2: return nil
    case .uint8: return "uint8"
    case .int8: return "int8"
    case .float8E5M2: return "float8_e5m2"
    case .float8E4M3: return "float8_e4m3fn"
    case .float8E8M0: return "float8_e8m0fnu"
    case .float8E4M3FNUZ: return "float8_e4m3fnuz"
    case .float8E5M2FNUZ: return "float8_e5m2fnuz"
    case .int16: return "int16"
    case .uint16: return "uint16"
    case .float16: return "float16"
    case .bfloat16: return "bfloat16"
    case .int32: return "int32"
    case .uint32: return "uint32"
    case .float32: return "float32"
    case .complex64: return "complex64"
    case .float64: return "float64"
    case .int64: return "int64"
    case .uint64: return "uint64"
    case .complex128: return "complex128"
    }
  }

  /// Parses a dtype from a safetensors name (`F32`) or a common alias (`float32`, `fp32`, `bf16`, `half`, `e4m3`…).
  public init?(parsing text: String) {
    if let exact = DType(rawValue: text) {
      self = exact
      return
    }
    let key = text.lowercased()
    if let exact = DType(rawValue: key.uppercased()) {
      self = exact
      return
    }
    for d in DType.allCases where d.torchName == key {
      self = d
      return
    }
    let aliases: [String: DType] = [
      "fp32": .float32, "f32": .float32, "float": .float32, "fp16": .float16, "half": .float16, "f16": .float16,
      "bf16": .bfloat16, "fp64": .float64, "double": .float64, "f64": .float64, "e4m3": .float8E4M3,
      "fp8": .float8E4M3, "fp8_e4m3": .float8E4M3, "e5m2": .float8E5M2, "fp8_e5m2": .float8E5M2,
      "e8m0": .float8E8M0, "fp4": .float4E2M1, "e2m1": .float4E2M1, "int": .int64, "long": .int64,
    ]
    guard let d = aliases[key] else { return nil }
    self = d
  }

  /// The number of bytes `elementCount` elements occupy, or `nil` on overflow or when sub-byte elements would not
  /// end on a byte boundary.
  public func byteCount(elements elementCount: Int) -> Int? {
    guard let bits = Checked.multiply(elementCount, bitWidth), bits % 8 == 0 else { return nil }
    return bits / 8
  }
}

extension DType: CustomStringConvertible {
  /// The safetensors spelling.
  public var description: String { rawValue }
}
