public import GraftCore

/// Encoding of Float32 values as ggml types.
///
/// F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0 and Q5_1 are bit-identical to gguf-py's `gguf.quants.quantize` (numpy `astype(float16)`,
/// ggml's BF16 rounding, `quantize_row_q8_0_ref`, and gguf-py 0.19's unfused `trunc(x·id + 8.5)` for Q4_0); Q4_K,
/// Q5_K and Q6_K follow llama.cpp's reference quantizers `quantize_row_q{4,5,6}_K_ref` (the path `llama-quantize`
/// takes without an importance matrix).
public enum GGUFQuantize {
  /// The types Graft can encode.
  public static let supportedTypes: [GGMLType] = [
    .f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q4_K, .q5_K, .q6_K,
  ]

  /// Whether Float32 values can be encoded as `type`.
  public static func isSupported(_ type: GGMLType) -> Bool { supportedTypes.contains(type) }

  /// Encodes `blockCount` blocks of `type` (`blockCount × type.blockElements` values) into `out`.
  ///
  /// - Returns: The index of the first non-finite value when `type` is block-quantized and one was met (those blocks
  ///   are left unwritten; llama.cpp refuses such rows too), else `nil`.
  /// - Throws: `unsupportedDType` naming the type when Graft cannot encode it.
  public static func encode(
    _ type: GGMLType, values: UnsafePointer<Float>, blockCount: Int, into out: UnsafeMutableRawPointer
  ) throws(GraftError) -> Int? {
    let n = blockCount
    switch type {
    case .f32: out.copyMemory(from: values, byteCount: 4 * n)
    case .f16: for i in 0..<n { store(float16Bits(values[i]), out, 2 * i) }
    case .bf16: for i in 0..<n { store(bfloat16Bits(values[i]), out, 2 * i) }
    case .q8_0: return blocks(n, 32, values) { b, x in q8_0(x, out + 34 * b) }
    case .q4_0: return blocks(n, 32, values) { b, x in q4_0(x, out + 18 * b) }
    case .q4_1: return blocks(n, 32, values) { b, x in q4_1(x, out + 20 * b) }
    case .q5_0: return blocks(n, 32, values) { b, x in q5_0(x, out + 22 * b) }
    case .q5_1: return blocks(n, 32, values) { b, x in q5_1(x, out + 24 * b) }
    case .q4_K: return blocks(n, 256, values) { b, x in q4_K(x, out + 144 * b) }
    case .q5_K: return blocks(n, 256, values) { b, x in q5_K(x, out + 176 * b) }
    case .q6_K: return blocks(n, 256, values) { b, x in q6_K(x, out + 210 * b) }
    default:
      throw GraftError(
        .unsupportedDType,
        "quantizing to \(type.name) is not implemented; Graft writes "
          + supportedTypes.map(\.name).joined(separator: ", "))
    }
    return nil
  }

  /// Runs `body` on each block whose values are all finite; returns the first non-finite value's index.
  @inline(__always)
  static func blocks(
    _ count: Int, _ size: Int, _ values: UnsafePointer<Float>, _ body: (Int, UnsafePointer<Float>) -> Void
  ) -> Int? {
    var firstBad: Int?
    for b in 0..<count {
      let x = values + size * b
      // inf·0 and NaN·0 are NaN, finite·0 is ±0: one multiply-add per value finds any non-finite one (in eight
      // independent lanes; every block size is a multiple of 8).
      var lanes = SIMD8<Float>.zero
      for j in stride(from: 0, to: size, by: 8) {
        lanes += UnsafeRawPointer(x + j).loadUnaligned(as: SIMD8<Float>.self) * 0
      }
      let probe = lanes.sum()
      if probe != 0 || probe.isNaN {
        if firstBad == nil { firstBad = size * b + ((0..<size).first { !x[$0].isFinite } ?? 0) }
        continue
      }
      body(b, x)
    }
    return firstBad
  }

  @inline(__always) static func store(_ bits: UInt16, _ p: UnsafeMutableRawPointer, _ offset: Int) {
    p.storeBytes(of: bits.littleEndian, toByteOffset: offset, as: UInt16.self)
  }

  /// numpy's `astype(float16)`: round to nearest even, overflow to infinity, NaN payload truncated (kept non-zero).
  @inline(__always) static func float16Bits(_ x: Float) -> UInt16 {
    if x.isNaN {
      let bits = x.bitPattern
      let payload = UInt16(truncatingIfNeeded: (bits & 0x007F_FFFF) >> 13)
      return UInt16(truncatingIfNeeded: (bits >> 16) & 0x8000) | 0x7C00 | (payload == 0 ? 1 : payload)
    }
    return Float16(x).bitPattern
  }

  /// ggml's `ggml_compute_fp32_to_bf16`: NaN made quiet, else round to nearest even.
  @inline(__always) static func bfloat16Bits(_ x: Float) -> UInt16 {
    let u = x.bitPattern
    if u & 0x7FFF_FFFF > 0x7F80_0000 { return UInt16(truncatingIfNeeded: (u >> 16) | 64) }
    return UInt16(truncatingIfNeeded: (UInt64(u) + 0x7FFF + UInt64((u >> 16) & 1)) >> 16)
  }

  /// `quantize_row_q8_0_ref`: `d = max|x| / 127`, `q = round-half-away(x / d)`; the quants use the f32 `d`.
  static func q8_0(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
    var amax: Float = 0
    for j in 0..<32 { amax = Swift.max(amax, abs(x[j])) }
    let d = amax / 127
    let id: Float = d == 0 ? 0 : 1 / d
    store(Float16(d).bitPattern, y, 0)
    for j in 0..<32 {
      let q = (x[j] * id).rounded(.toNearestOrAwayFromZero)
      y.storeBytes(of: UInt8(bitPattern: Int8(q)), toByteOffset: 2 + j, as: UInt8.self)
    }
  }

  /// gguf-py 0.19 `Q4_0.quantize_blocks`: the signed value of largest magnitude (first one wins) over −8 is `d`,
  /// `q = min(15, trunc(x·(1/d) + 8.5))` with a rounded product and a rounded sum (no FMA).
  static func q4_0(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
    let id = signedMaxHeader(x, divisor: -8, y)
    pack4({ truncatedLevel(x[$0] * id, 8.5, 15) }, y, at: 2)
  }
}
