public import GraftCore

/// Decoding of ggml blocks to Float32, bit-identical to gguf-py's `gguf.quants.dequantize` (which mirrors
/// `ggml-quants.c::dequantize_row_*`).
///
/// Every formula keeps numpy's order of float32 operations (`d * q + m` is a rounded product, then a rounded sum;
/// Swift does not fuse them into an FMA), so the results match gguf-py bit for bit on the committed fixtures.
public enum GGUFDequantize {
  /// Whether blocks of `type` can be decoded.
  public static func isSupported(_ type: GGMLType) -> Bool {
    switch type {
    case .q8_1, .q8_K, .q1_0, .q2_0, .iq2_XXS, .iq2_XS, .iq2_S, .iq3_XXS, .iq3_S, .iq1_S, .iq1_M: return false
    default: return true
    }
  }

  /// Throws unless blocks of `type` can be decoded, naming the type.
  public static func requireSupported(_ type: GGMLType) throws(GraftError) {
    guard isSupported(type) else {
      let why: String
      switch type {
      case .q8_1, .q8_K: why = "it is ggml's dot-product intermediate, not a storage type"
      case .q1_0, .q2_0: why = "gguf-py 0.19 has no reference decoder to be bit-identical to"
      default: why = "its grid codebooks are not implemented"
      }
      throw GraftError(.unsupportedDType, "dequantizing \(type.name) is not supported: \(why)")
    }
  }

  /// Decodes `blockCount` blocks of `type` at `blocks` into `blockCount × type.blockElements` floats at `out`.
  ///
  /// - Throws: `unsupportedDType` naming the type when it cannot be decoded.
  public static func decode(
    _ type: GGMLType, blocks: UnsafeRawPointer, blockCount: Int, into out: UnsafeMutablePointer<Float>
  ) throws(GraftError) {
    try requireSupported(type)
    let n = blockCount
    switch type {
    case .f32: out.update(from: blocks.assumingMemoryBound(to: Float.self), count: n)
    case .f16: for i in 0..<n { out[i] = half(blocks, 2 * i) }
    case .bf16: for i in 0..<n { out[i] = Float(bitPattern: UInt32(u16(blocks, 2 * i)) << 16) }
    case .f64: for i in 0..<n { out[i] = Float(Double(bitPattern: u64(blocks, 8 * i))) }
    case .i8: for i in 0..<n { out[i] = Float(Int8(bitPattern: blocks.load(fromByteOffset: i, as: UInt8.self))) }
    case .i16: for i in 0..<n { out[i] = Float(Int16(bitPattern: u16(blocks, 2 * i))) }
    case .i32: for i in 0..<n { out[i] = Float(Int32(bitPattern: u32(blocks, 4 * i))) }
    case .i64: for i in 0..<n { out[i] = Float(Int64(bitPattern: u64(blocks, 8 * i))) }
    case .q4_0: for b in 0..<n { q4_0(blocks + 18 * b, out + 32 * b) }
    case .q4_1: for b in 0..<n { q4_1(blocks + 20 * b, out + 32 * b) }
    case .q5_0: for b in 0..<n { q5(blocks + 22 * b, out + 32 * b, hasMin: false) }
    case .q5_1: for b in 0..<n { q5(blocks + 24 * b, out + 32 * b, hasMin: true) }
    case .q8_0: for b in 0..<n { q8_0(blocks + 34 * b, out + 32 * b) }
    case .q2_K: for b in 0..<n { q2_K(blocks + 84 * b, out + 256 * b) }
    case .q3_K: for b in 0..<n { q3_K(blocks + 110 * b, out + 256 * b) }
    case .q4_K: for b in 0..<n { q45_K(blocks + 144 * b, out + 256 * b, hasHighBit: false) }
    case .q5_K: for b in 0..<n { q45_K(blocks + 176 * b, out + 256 * b, hasHighBit: true) }
    case .q6_K: for b in 0..<n { q6_K(blocks + 210 * b, out + 256 * b) }
    case .iq4_NL: for b in 0..<n { iq4_NL(blocks + 18 * b, out + 32 * b) }
    case .iq4_XS: for b in 0..<n { iq4_XS(blocks + 136 * b, out + 256 * b) }
    case .tq1_0: for b in 0..<n { tq1_0(blocks + 54 * b, out + 256 * b) }
    case .tq2_0: for b in 0..<n { tq2_0(blocks + 66 * b, out + 256 * b) }
    case .mxfp4: for b in 0..<n { mxfp4(blocks + 17 * b, out + 32 * b) }
    case .nvfp4: for b in 0..<n { nvfp4(blocks + 36 * b, out + 64 * b) }
    case .q8_1, .q8_K, .q1_0, .q2_0, .iq2_XXS, .iq2_XS, .iq2_S, .iq3_XXS, .iq3_S, .iq1_S, .iq1_M: break
    }
  }

  // MARK: - Loads

  @inline(__always) static func u16(_ p: UnsafeRawPointer, _ offset: Int) -> UInt16 {
    UInt16(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
  }
  @inline(__always) static func u32(_ p: UnsafeRawPointer, _ offset: Int) -> UInt32 {
    UInt32(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
  }
  @inline(__always) static func u64(_ p: UnsafeRawPointer, _ offset: Int) -> UInt64 {
    UInt64(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
  }
  @inline(__always) static func byte(_ p: UnsafeRawPointer, _ offset: Int) -> UInt8 {
    p.load(fromByteOffset: offset, as: UInt8.self)
  }
  /// An f16 field widened to f32 (exact).
  @inline(__always) static func half(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
    Float(Float16(bitPattern: u16(p, offset)))
  }

  // MARK: - 32-element blocks

  static func q4_0(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    let d = half(p, 0)
    for j in 0..<16 {
      let q = byte(p, 2 + j)
      y[j] = d * Float(Int(q & 0xF) - 8)
      y[j + 16] = d * Float(Int(q >> 4) - 8)
    }
  }

  static func q4_1(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    let d = half(p, 0)
    let m = half(p, 2)
    for j in 0..<16 {
      let q = byte(p, 4 + j)
      y[j] = d * Float(q & 0xF) + m
      y[j + 16] = d * Float(q >> 4) + m
    }
  }

  /// Q5_0 (`d`, `qh`, `qs`; values − 16) and Q5_1 (`d`, `m`, `qh`, `qs`; values · d + m).
  static func q5(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, hasMin: Bool) {
    let d = half(p, 0)
    let m: Float = hasMin ? half(p, 2) : 0
    let base = hasMin ? 4 : 2
    let qh = u32(p, base)
    for j in 0..<32 {
      let packed = byte(p, base + 4 + (j & 15))
      let low = j < 16 ? packed & 0xF : packed >> 4
      let q = Int(low) | Int((qh >> UInt32(j)) & 1) << 4
      y[j] = hasMin ? d * Float(q) + m : d * Float(q - 16)
    }
  }

  static func q8_0(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    let d = half(p, 0)
    for j in 0..<32 { y[j] = Float(Int8(bitPattern: byte(p, 2 + j))) * d }
  }
}
