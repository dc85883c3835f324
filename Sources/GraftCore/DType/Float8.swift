// The fp8 storage types. Encoders are ports of PyTorch's c10 `fp8*_from_fp32_value` functions (torch 2.15), whose
// bulk (AVX-512) and scalar paths agree bit for bit; decoders reproduce the exact `Float` bits torch's CPU copy kernel
// produces, NaN payloads included, so that a chained cast (fp8 → f32 → f16) lands on the same bits as torch.

/// What the fp8 storage types share: eight raw bits, PyTorch's rounding from `Float` and exact widening back.
public protocol Float8Storage: Hashable, Sendable, BitwiseCopyable {
  /// The raw bits.
  var bitPattern: UInt8 { get }
  /// Creates a value from raw bits.
  init(bitPattern: UInt8)
  /// Rounds to nearest even with PyTorch's overflow and NaN rules.
  init(_ value: Float)
  /// Rounds to nearest even, clamping what would overflow to the largest finite value (NaN stays NaN).
  init(saturating value: Float)
  /// The value widened exactly to `Float` bits, NaNs as torch's CPU copy kernel makes them.
  var floatBits: UInt32 { get }
  /// The largest finite value.
  static var greatestFiniteMagnitude: Self { get }
}

extension Float {
  /// Widens an fp8 value exactly (NaN bits as torch produces them: see each type's ``Float8Storage/floatBits``).
  @inlinable public init<T: Float8Storage>(_ value: T) { self.init(bitPattern: value.floatBits) }
}

/// FP8 E4M3 "fn" (finite, no infinities; NaN = `S.1111.111`), PyTorch `float8_e4m3fn`, safetensors `F8_E4M3`.
@frozen public struct Float8E4M3FN: Float8Storage {
  /// The raw bits.
  public var bitPattern: UInt8
  /// Creates a value from raw bits.
  @inlinable public init(bitPattern: UInt8) { self.bitPattern = bitPattern }
  /// Rounds to nearest even like PyTorch: finite overflow and infinities saturate to ±448, NaN becomes `0x7F|sign`.
  ///
  /// PyTorch 2.15 saturates here; older releases (and the reference notes) produced NaN `0x7F` for |x| ≥ 480.
  @inlinable public init(_ value: Float) { bitPattern = Float8Codec.encodeE4M3FN(value.bitPattern) }
  /// The same as ``init(_:)``, which already saturates.
  @inlinable public init(saturating value: Float) { self.init(value) }
  /// Exact; NaN becomes `0x7FF00000|sign` (torch's bits).
  @inlinable public var floatBits: UInt32 { Float8Codec.decodeE4M3FN(bitPattern) }
  /// The largest finite value, 448.
  public static let greatestFiniteMagnitude = Float8E4M3FN(bitPattern: 0x7E)
}

/// FP8 E5M2 (IEEE-like with infinities), PyTorch `float8_e5m2`, safetensors `F8_E5M2`.
@frozen public struct Float8E5M2: Float8Storage {
  /// The raw bits.
  public var bitPattern: UInt8
  /// Creates a value from raw bits.
  @inlinable public init(bitPattern: UInt8) { self.bitPattern = bitPattern }
  /// Rounds to nearest even like PyTorch: |x| ≥ 61440 becomes ±inf, NaN becomes `0x7F|sign`.
  @inlinable public init(_ value: Float) { bitPattern = Float8Codec.encodeE5M2(value.bitPattern) }
  /// Rounds to nearest even, clamping finite overflow to ±57344 (infinities stay infinite).
  @inlinable public init(saturating value: Float) {
    bitPattern = Float8Codec.encodeE5M2(value.bitPattern)
    if bitPattern & 0x7F == 0x7C && value.isFinite { bitPattern -= 1 }
  }
  /// Exact; NaNs are quieted, as torch's F16C-based path does.
  @inlinable public var floatBits: UInt32 { Float8Codec.decodeE5M2(bitPattern) }
  /// The largest finite value, 57344.
  public static let greatestFiniteMagnitude = Float8E5M2(bitPattern: 0x7B)
}

/// FP8 E4M3 "fnuz" (no negative zero, no infinities, NaN = `0x80`), PyTorch `float8_e4m3fnuz`.
@frozen public struct Float8E4M3FNUZ: Float8Storage {
  /// The raw bits.
  public var bitPattern: UInt8
  /// Creates a value from raw bits.
  @inlinable public init(bitPattern: UInt8) { self.bitPattern = bitPattern }
  /// Rounds to nearest even like PyTorch: |x| ≥ 248, infinities and NaN become NaN (`0x80`).
  @inlinable public init(_ value: Float) { bitPattern = Float8Codec.encodeE4M3FNUZ(value.bitPattern) }
  /// Rounds to nearest even, clamping overflow and infinities to ±240; NaN stays NaN.
  @inlinable public init(saturating value: Float) {
    bitPattern = Float8Codec.saturateFNUZ(Float8Codec.encodeE4M3FNUZ(value.bitPattern), value)
  }
  /// Exact; NaN becomes `0x7F800001`, torch's (signalling) bits.
  @inlinable public var floatBits: UInt32 { Float8Codec.decodeFNUZ(bitPattern, exponentBits: 4) }
  /// The largest finite value, 240.
  public static let greatestFiniteMagnitude = Float8E4M3FNUZ(bitPattern: 0x7F)
}

/// FP8 E5M2 "fnuz" (no negative zero, no infinities, NaN = `0x80`), PyTorch `float8_e5m2fnuz`.
@frozen public struct Float8E5M2FNUZ: Float8Storage {
  /// The raw bits.
  public var bitPattern: UInt8
  /// Creates a value from raw bits.
  @inlinable public init(bitPattern: UInt8) { self.bitPattern = bitPattern }
  /// Rounds to nearest even like PyTorch: |x| ≥ 61440, infinities and NaN become NaN (`0x80`).
  @inlinable public init(_ value: Float) { bitPattern = Float8Codec.encodeE5M2FNUZ(value.bitPattern) }
  /// Rounds to nearest even, clamping overflow and infinities to ±57344; NaN stays NaN.
  @inlinable public init(saturating value: Float) {
    bitPattern = Float8Codec.saturateFNUZ(Float8Codec.encodeE5M2FNUZ(value.bitPattern), value)
  }
  /// Exact; NaN becomes `0x7F800001`, torch's (signalling) bits.
  @inlinable public var floatBits: UInt32 { Float8Codec.decodeFNUZ(bitPattern, exponentBits: 5) }
  /// The largest finite value, 57344.
  public static let greatestFiniteMagnitude = Float8E5M2FNUZ(bitPattern: 0x7F)
}

/// FP8 E8M0 "fnu" (an unsigned power of two, 2⁻¹²⁷…2¹²⁷; NaN = `0xFF`), PyTorch `float8_e8m0fnu`, MX block scales.
@frozen public struct Float8E8M0FNU: Float8Storage {
  /// The raw bits: the biased exponent.
  public var bitPattern: UInt8
  /// Creates a value from raw bits.
  @inlinable public init(bitPattern: UInt8) { self.bitPattern = bitPattern }
  /// Rounds like PyTorch: the sign is dropped, the exponent rounds up when the mantissa is ≥ 0.5 (ties to even on
  /// the implicit bit), zero becomes 2⁻¹²⁷, infinities and NaN become NaN.
  @inlinable public init(_ value: Float) { bitPattern = Float8Codec.encodeE8M0(value.bitPattern) }
  /// As ``init(_:)``, but values that would round past 2¹²⁷, and infinities, become 2¹²⁷.
  @inlinable public init(saturating value: Float) {
    bitPattern = Float8Codec.encodeE8M0(value.bitPattern)
    if bitPattern == 0xFF && !value.isNaN { bitPattern = 0xFE }
  }
  /// Exact; `0x00` is 2⁻¹²⁷ and NaN becomes `0x7F800001`, as in torch.
  @inlinable public var floatBits: UInt32 { Float8Codec.decodeE8M0(bitPattern) }
  /// The largest finite value, 2¹²⁷.
  public static let greatestFiniteMagnitude = Float8E8M0FNU(bitPattern: 0xFE)
}

/// Bit-level fp8 encoders and decoders shared by the storage types and the cast kernels.
@usableFromInline enum Float8Codec {
  // MARK: Encoders (ports of c10's fp8*_from_fp32_value; the comments there explain the magic constants)

  @inlinable @inline(__always)
  static func encodeE4M3FN(_ input: UInt32) -> UInt8 {
    let sign = input & 0x8000_0000
    let f = input ^ sign
    var result: UInt8
    if f >= 1087 << 20 {
      result = f > 0x7F80_0000 ? 0x7F : 0x7E
    } else {
      result = roundMagnitude(f, mantissaBits: 3, bias: 7)
      if result == 0x7F { result = 0x7E }
    }
    return result | UInt8(truncatingIfNeeded: sign >> 24)
  }

  @inlinable @inline(__always)
  static func encodeE5M2(_ input: UInt32) -> UInt8 {
    let sign = input & 0x8000_0000
    let f = input ^ sign
    let result = f >= 143 << 23 ? (f > 0x7F80_0000 ? 0x7F : 0x7C) : roundMagnitude(f, mantissaBits: 2, bias: 15)
    return result | UInt8(truncatingIfNeeded: sign >> 24)
  }

  @inlinable @inline(__always)
  static func encodeE4M3FNUZ(_ input: UInt32) -> UInt8 {
    let sign = input & 0x8000_0000
    let f = input ^ sign
    if f >= 0x87 << 23 { return 0x80 }
    let result = roundMagnitude(f, mantissaBits: 3, bias: 8)
    // No negative zero: 0x80 is the NaN.
    return result == 0 ? 0 : result | UInt8(truncatingIfNeeded: sign >> 24)
  }

  @inlinable @inline(__always)
  static func encodeE5M2FNUZ(_ input: UInt32) -> UInt8 {
    let sign = input & 0x8000_0000
    let f = input ^ sign
    if f >= 0x8F << 23 { return 0x80 }
    let result = roundMagnitude(f, mantissaBits: 2, bias: 16)
    return result == 0 ? 0 : result | UInt8(truncatingIfNeeded: sign >> 24)
  }

  /// c10's rounding of a float32 magnitude `f` (below the overflow threshold) to an fp8 magnitude with
  /// `mantissaBits` and `bias`, to nearest even.
  ///
  /// Subnormal results come from one float addition of a magic number whose exponent puts the fp8 subnormal step at
  /// the float's last place (c10's `denorm_mask`: `127 − bias + 24 − mantissaBits`); normal ones from rebiasing the
  /// exponent and rounding the dropped mantissa bits half to even with an integer add.
  @inlinable @inline(__always)
  static func roundMagnitude(_ f: UInt32, mantissaBits: UInt32, bias: UInt32) -> UInt8 {
    let shift = 23 - mantissaBits
    if f < (128 - bias) << 23 {
      let denormMask = (151 - bias - mantissaBits) << 23
      return UInt8(truncatingIfNeeded: (Float(bitPattern: f) + Float(bitPattern: denormMask)).bitPattern &- denormMask)
    }
    let mantissaOdd = (f >> shift) & 1
    let rebiased = f &+ ((bias &- 127) << 23) &+ ((1 << (shift - 1)) - 1) &+ mantissaOdd
    return UInt8(truncatingIfNeeded: rebiased >> shift)
  }

  /// Saturation for the fnuz formats, whose overflow and infinities encode as NaN (`0x80`): clamp to ±max instead.
  @inlinable @inline(__always)
  static func saturateFNUZ(_ bits: UInt8, _ value: Float) -> UInt8 {
    bits == 0x80 && !value.isNaN ? (value.sign == .minus ? 0xFF : 0x7F) : bits
  }

  @inlinable @inline(__always)
  static func encodeE8M0(_ input: UInt32) -> UInt8 {
    let exponent = UInt8(truncatingIfNeeded: input >> 23)
    if exponent == 0xFF { return 0xFF }
    let guardBit = input & 0x40_0000 != 0
    let roundOrSticky = input & 0x3F_FFFF != 0
    let implicitBit = exponent > 0
    return guardBit && (roundOrSticky || implicitBit) ? exponent + 1 : exponent
  }

  // MARK: Decoders

  @inlinable @inline(__always)
  static func decodeE4M3FN(_ x: UInt8) -> UInt32 {
    let sign = UInt32(x & 0x80) << 24
    if x & 0x7F == 0x7F { return sign | 0x7FF0_0000 }
    return sign | exactBits(x & 0x7F, mantissaBits: 3, bias: 7)
  }

  @inlinable @inline(__always)
  static func decodeE5M2(_ x: UInt8) -> UInt32 {
    let sign = UInt32(x & 0x80) << 24
    let magnitude = x & 0x7F
    if magnitude > 0x7C { return sign | 0x7FC0_0000 | UInt32(magnitude & 0x3) << 21 }
    if magnitude == 0x7C { return sign | 0x7F80_0000 }
    return sign | exactBits(magnitude, mantissaBits: 2, bias: 15)
  }

  @inlinable @inline(__always)
  static func decodeFNUZ(_ x: UInt8, exponentBits: Int) -> UInt32 {
    if x == 0x80 { return 0x7F80_0001 }
    let sign = UInt32(x & 0x80) << 24
    let mantissaBits = 7 - exponentBits
    return sign | exactBits(x & 0x7F, mantissaBits: mantissaBits, bias: (1 << (exponentBits - 1)))
  }

  @inlinable @inline(__always)
  static func decodeE8M0(_ x: UInt8) -> UInt32 {
    switch x {
    case 0: return 0x0040_0000
    case 0xFF: return 0x7F80_0001
    default: return UInt32(x) << 23
    }
  }

  /// The binary32 bits of a small unsigned float `magnitude` (exponent above `mantissaBits` bits), exact.
  @inlinable @inline(__always)
  static func exactBits(_ magnitude: UInt8, mantissaBits: Int, bias: Int) -> UInt32 {
    let mantissa = UInt32(magnitude) & ((1 << mantissaBits) - 1)
    let exponent = Int(magnitude) >> mantissaBits
    if exponent == 0 {
      // Subnormal: mantissa · 2^(1 − bias − mantissaBits), exact in binary32.
      let value = Float(mantissa) * Float(sign: .plus, exponent: 1 - bias - mantissaBits, significand: 1)
      return value.bitPattern
    }
    return UInt32(exponent - bias + 127) << 23 | mantissa << (23 - mantissaBits)
  }
}
