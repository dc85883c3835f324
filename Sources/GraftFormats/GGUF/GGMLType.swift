public import GraftCore

/// A ggml tensor type, as stored in a GGUF tensor info (`ggml/include/ggml.h::ggml_type`).
///
/// Plain types (F32, F16, BF16, F64, I8…I64) map to a ``DType``; the others are block-quantized: a fixed number of
/// elements (``blockElements``) stored in a fixed number of bytes (``blockBytes``).
public enum GGMLType: UInt32, Sendable, CaseIterable, Hashable, CustomStringConvertible {
  /// IEEE binary32.
  case f32 = 0
  /// IEEE binary16.
  case f16 = 1
  /// 32 elements: f16 scale + 16 bytes of 4-bit values.
  case q4_0 = 2
  /// 32 elements: f16 scale and minimum + 16 bytes of 4-bit values.
  case q4_1 = 3
  /// 32 elements: f16 scale, 32 high bits, 16 bytes of low nibbles.
  case q5_0 = 6
  /// 32 elements: f16 scale and minimum, 32 high bits, 16 bytes of low nibbles.
  case q5_1 = 7
  /// 32 elements: f16 scale + 32 int8.
  case q8_0 = 8
  /// 32 elements: f16 scale and sum + 32 int8 (a dot-product intermediate, never in model files).
  case q8_1 = 9
  /// 256 elements in 84 bytes.
  case q2_K = 10
  /// 256 elements in 110 bytes.
  case q3_K = 11
  /// 256 elements in 144 bytes.
  case q4_K = 12
  /// 256 elements in 176 bytes.
  case q5_K = 13
  /// 256 elements in 210 bytes.
  case q6_K = 14
  /// 256 elements in 292 bytes (a dot-product intermediate).
  case q8_K = 15
  /// 256 elements in 66 bytes (grid codebook).
  case iq2_XXS = 16
  /// 256 elements in 74 bytes (grid codebook).
  case iq2_XS = 17
  /// 256 elements in 98 bytes (grid codebook).
  case iq3_XXS = 18
  /// 256 elements in 50 bytes (grid codebook).
  case iq1_S = 19
  /// 32 elements: f16 scale + 16 bytes indexing a 16-value non-linear table.
  case iq4_NL = 20
  /// 256 elements in 110 bytes (grid codebook).
  case iq3_S = 21
  /// 256 elements in 82 bytes (grid codebook).
  case iq2_S = 22
  /// 256 elements in 136 bytes: IQ4_NL values with 6-bit sub-block scales.
  case iq4_XS = 23
  /// Signed 8-bit integer.
  case i8 = 24
  /// Signed 16-bit integer.
  case i16 = 25
  /// Signed 32-bit integer.
  case i32 = 26
  /// Signed 64-bit integer.
  case i64 = 27
  /// IEEE binary64.
  case f64 = 28
  /// 256 elements in 56 bytes (grid codebook).
  case iq1_M = 29
  /// bfloat16.
  case bf16 = 30
  /// 256 ternary elements in 54 bytes.
  case tq1_0 = 34
  /// 256 ternary elements in 66 bytes.
  case tq2_0 = 35
  /// 32 elements: E8M0 scale + 16 bytes of E2M1 values.
  case mxfp4 = 39
  /// 64 elements: four E4M3 scales + 32 bytes of E2M1 values.
  case nvfp4 = 40
  /// 128 elements in 18 bytes.
  case q1_0 = 41
  /// 64 elements in 18 bytes.
  case q2_0 = 42

  /// ggml's name (`Q4_K`, `BF16`).
  public var name: String {
    switch self {
    case .f32: return "F32"
    case .f16: return "F16"
    case .q4_0: return "Q4_0"
    case .q4_1: return "Q4_1"
    case .q5_0: return "Q5_0"
    case .q5_1: return "Q5_1"
    case .q8_0: return "Q8_0"
    case .q8_1: return "Q8_1"
    case .q2_K: return "Q2_K"
    case .q3_K: return "Q3_K"
    case .q4_K: return "Q4_K"
    case .q5_K: return "Q5_K"
    case .q6_K: return "Q6_K"
    case .q8_K: return "Q8_K"
    case .iq2_XXS: return "IQ2_XXS"
    case .iq2_XS: return "IQ2_XS"
    case .iq3_XXS: return "IQ3_XXS"
    case .iq1_S: return "IQ1_S"
    case .iq4_NL: return "IQ4_NL"
    case .iq3_S: return "IQ3_S"
    case .iq2_S: return "IQ2_S"
    case .iq4_XS: return "IQ4_XS"
    case .i8: return "I8"
    case .i16: return "I16"
    case .i32: return "I32"
    case .i64: return "I64"
    case .f64: return "F64"
    case .iq1_M: return "IQ1_M"
    case .bf16: return "BF16"
    case .tq1_0: return "TQ1_0"
    case .tq2_0: return "TQ2_0"
    case .mxfp4: return "MXFP4"
    case .nvfp4: return "NVFP4"
    case .q1_0: return "Q1_0"
    case .q2_0: return "Q2_0"
    }
  }

  /// ggml's name.
  public var description: String { name }

  /// Elements per block (1 for plain types).
  public var blockElements: Int {
    switch self {
    case .f32, .f16, .i8, .i16, .i32, .i64, .f64, .bf16: return 1
    case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1, .iq4_NL, .mxfp4: return 32
    case .nvfp4, .q2_0: return 64
    case .q1_0: return 128
    case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_K, .iq2_XXS, .iq2_XS, .iq3_XXS, .iq1_S, .iq3_S, .iq2_S, .iq4_XS,
      .iq1_M, .tq1_0, .tq2_0:
      return 256
    }
  }

  /// Bytes per block (`ggml_type_size`).
  public var blockBytes: Int {
    switch self {
    case .f32: return 4
    case .f16, .bf16: return 2
    case .q4_0: return 18
    case .q4_1: return 20
    case .q5_0: return 22
    case .q5_1: return 24
    case .q8_0: return 34
    case .q8_1: return 36
    case .q2_K: return 84
    case .q3_K: return 110
    case .q4_K: return 144
    case .q5_K: return 176
    case .q6_K: return 210
    case .q8_K: return 292
    case .iq2_XXS: return 66
    case .iq2_XS: return 74
    case .iq3_XXS: return 98
    case .iq1_S: return 50
    case .iq4_NL: return 18
    case .iq3_S: return 110
    case .iq2_S: return 82
    case .iq4_XS: return 136
    case .i8: return 1
    case .i16: return 2
    case .i32: return 4
    case .i64, .f64: return 8
    case .iq1_M: return 56
    case .tq1_0: return 54
    case .tq2_0: return 66
    case .mxfp4: return 17
    case .nvfp4: return 36
    case .q1_0, .q2_0: return 18
    }
  }

  /// The element type of a plain (unquantized) type; `nil` for block-quantized types.
  public var plainDType: DType? {
    switch self {
    case .f32: return .float32
    case .f16: return .float16
    case .bf16: return .bfloat16
    case .f64: return .float64
    case .i8: return .int8
    case .i16: return .int16
    case .i32: return .int32
    case .i64: return .int64
    default: return nil
    }
  }

  /// Whether the type stores quantized blocks.
  public var isQuantized: Bool { plainDType == nil }

  /// The GGUF type that stores `dtype` elements unchanged, or `nil` when GGUF has none (U8, BOOL, fp8, …).
  public init?(plain dtype: DType) {
    guard let match = GGMLType.allCases.first(where: { $0.plainDType == dtype }) else { return nil }
    self = match
  }

  /// The description GraftCore carries for tensors stored as this type's blocks.
  public var blockFormat: BlockFormat {
    BlockFormat(name: name, code: Int(rawValue), blockElements: blockElements, blockBytes: blockBytes)
  }

  /// Parses a ggml type name (`Q4_K`, `q8_0`, `bf16`), case-insensitively.
  public init?(name text: String) {
    let upper = text.uppercased()
    guard let match = GGMLType.allCases.first(where: { $0.name == upper }) else { return nil }
    self = match
  }

  /// The bytes `elements` elements occupy, or `nil` unless they are a whole number of blocks without overflow.
  public func byteCount(elements: Int) -> Int? { blockFormat.byteCount(elements: elements) }

  /// Ids ggml once used and removed; files with them are refused by name rather than as unknown.
  static let removedTypes: [UInt32: String] = [
    4: "Q4_2", 5: "Q4_3", 31: "Q4_0_4_4", 32: "Q4_0_4_8", 33: "Q4_0_8_8", 36: "IQ4_NL_4_4", 37: "IQ4_NL_4_8",
    38: "IQ4_NL_8_8",
  ]

  /// The type for a raw id read from a file.
  ///
  /// - Throws: `unknownDType` naming the number (and the removed type's old name for ids ggml retired).
  public static func decode(_ raw: UInt32) throws(GraftError) -> GGMLType {
    if let type = GGMLType(rawValue: raw) { return type }
    if let old = removedTypes[raw] {
      throw GraftError(
        .unknownDType,
        "ggml type \(raw) (\(old)) was removed from ggml; convert the file with a llama.cpp of that era or re-quantize")
    }
    throw GraftError(
      .unknownDType,
      "unknown ggml type \(raw); known types are 0–42 (GGML_TYPE_COUNT = 43), without the removed 4, 5, 31–33, 36–38")
  }
}
