// The fp8 storage types. Encoders are ports of PyTorch's c10 `fp8*_from_fp32_value` functions (torch 2.15), whose
// bulk (AVX-512) and scalar paths agree bit for bit; decoders reproduce the exact `Float` bits torch's CPU copy kernel
// produces, NaN payloads included, so that a chained cast (fp8 → f32 → f16) lands on the same bits as torch.
//
// Each type states its format as two bit-level functions (`encode`, `decode`); the protocol extension turns them into
// the initialisers and the widening every type offers.

/// What the fp8 storage types share: eight raw bits, PyTorch's rounding from `Float` and exact widening back.
public protocol Float8Storage: Hashable, Sendable, BitwiseCopyable {
  /// The raw bits.
  var bitPattern: UInt8 { get }
  /// Creates a value from raw bits.
  init(bitPattern: UInt8)
  /// The bits of `Float` bits rounded to nearest even with PyTorch's overflow and NaN rules.
  static func encode(_ floatBits: UInt32) -> UInt8
  /// `encoded`, the bits ``encode(_:)`` gave for `value`, with what overflowed clamped to the largest finite value
  /// (NaN stays NaN). The default keeps `encoded`, for a format whose rounding already saturates.
  static func saturate(_ encoded: UInt8, _ value: Float) -> UInt8
  /// The value of `bits` widened exactly to `Float` bits, NaNs as torch's CPU copy kernel makes them.
  static func decode(_ bits: UInt8) -> UInt32
  /// The largest finite value.
  static var greatestFiniteMagnitude: Self { get }
}

extension Float8Storage {
  /// Rounds to nearest even with PyTorch's overflow and NaN rules (``encode(_:)``).
  @inlinable public init(_ value: Float) { self.init(bitPattern: Self.encode(value.bitPattern)) }
  /// Rounds to nearest even, clamping what would overflow to the largest finite value (NaN stays NaN).
  @inlinable public init(saturating value: Float) {
    self.init(bitPattern: Self.saturate(Self.encode(value.bitPattern), value))
  }
  /// The value widened exactly to `Float` bits, NaNs as torch's CPU copy kernel makes them (``decode(_:)``).
  @inlinable public var floatBits: UInt32 { Self.decode(bitPattern) }
  /// Keeps `encoded`: the format's rounding already saturates.
  @inlinable public static func saturate(_ encoded: UInt8, _ value: Float) -> UInt8 { encoded }
}

extension Float {
  /// Widens an fp8 value exactly (NaN bits as torch produces them: see each type's ``Float8Storage/decode(_:)``).
  @inlinable public init<T: Float8Storage>(_ value: T) { self.init(bitPattern: value.floatBits) }
}

/// FP8 E4M3 "fn" (finite, no infinities; NaN = `S.1111.111`), PyTorch `float8_e4m3fn`, safetensors `F8_E4M3`.
@frozen public struct Float8E4M3FN: Float8Storage {
  /// The raw bits.
  public var bitPattern: UInt8
  /// Creates a value from raw bits.
  @inlinable public init(bitPattern: UInt8) { self.bitPattern = bitPattern }

  /// Rounds like PyTorch: finite overflow and infinities saturate to ±448, NaN becomes `0x7F|sign`; so
  /// ``Float8Storage/init(saturating:)`` is the same as ``Float8Storage/init(_:)``.
  ///
  /// PyTorch 2.15 saturates here; older releases (and the reference notes) produced NaN `0x7F` for |x| ≥ 480.
  @inlinable @inline(__always) public static func encode(_ floatBits: UInt32) -> UInt8 {
    Minifloat.signed(floatBits) { f in
      if f >= 1087 << 20 { return f > 0x7F80_0000 ? 0x7F : 0x7E }
      let result = Minifloat.roundMagnitude(f, mantissaBits: 3, bias: 7)
      return result == 0x7F ? 0x7E : result
    }
  }

  /// Exact; NaN becomes `0x7FF00000|sign` (torch's bits).
  @inlinable @inline(__always) public static func decode(_ bits: UInt8) -> UInt32 {
    let sign = UInt32(bits & 0x80) << 24
    if bits & 0x7F == 0x7F { return sign | 0x7FF0_0000 }
    return sign | Minifloat.exactBits(bits & 0x7F, mantissaBits: 3, bias: 7)
  }

  /// The largest finite value, 448.
  public static let greatestFiniteMagnitude = Float8E4M3FN(bitPattern: 0x7E)
}

/// FP8 E5M2 (IEEE-like with infinities), PyTorch `float8_e5m2`, safetensors `F8_E5M2`.
@frozen public struct Float8E5M2: Float8Storage {
  /// The raw bits.
  public var bitPattern: UInt8
  /// Creates a value from raw bits.
  @inlinable public init(bitPattern: UInt8) { self.bitPattern = bitPattern }

  /// Rounds like PyTorch: |x| ≥ 61440 becomes ±inf, NaN becomes `0x7F|sign`.
  @inlinable @inline(__always) public static func encode(_ floatBits: UInt32) -> UInt8 {
    Minifloat.signed(floatBits) { f in
      f >= 143 << 23 ? (f > 0x7F80_0000 ? 0x7F : 0x7C) : Minifloat.roundMagnitude(f, mantissaBits: 2, bias: 15)
    }
  }

  /// Clamps finite overflow to ±57344; infinities stay infinite.
  @inlinable @inline(__always) public static func saturate(_ encoded: UInt8, _ value: Float) -> UInt8 {
    encoded & 0x7F == 0x7C && value.isFinite ? encoded - 1 : encoded
  }

  /// Exact; NaNs are quieted, as torch's F16C-based path does.
  @inlinable @inline(__always) public static func decode(_ bits: UInt8) -> UInt32 {
    let sign = UInt32(bits & 0x80) << 24
    let magnitude = bits & 0x7F
    if magnitude > 0x7C { return sign | 0x7FC0_0000 | UInt32(magnitude & 0x3) << 21 }
    if magnitude == 0x7C { return sign | 0x7F80_0000 }
    return sign | Minifloat.exactBits(magnitude, mantissaBits: 2, bias: 15)
  }

  /// The largest finite value, 57344.
  public static let greatestFiniteMagnitude = Float8E5M2(bitPattern: 0x7B)
}

/// The fp8 "fnuz" formats (no negative zero, no infinities, one NaN `0x80`), which differ only in how the seven
/// magnitude bits split between exponent and mantissa; the exponent bias is 2^(exponentBits − 1).
public protocol Float8FNUZStorage: Float8Storage {
  /// Exponent bits: 4 (E4M3) or 5 (E5M2).
  static var exponentBits: Int { get }
}

extension Float8FNUZStorage {
  /// Rounds like PyTorch: what would round past the largest finite value, infinities and NaN become NaN (`0x80`).
  @inlinable @inline(__always) public static func encode(_ floatBits: UInt32) -> UInt8 {
    let bias = UInt32(1) << (exponentBits - 1)
    let sign = floatBits & 0x8000_0000
    let f = floatBits ^ sign
    if f >= (127 + bias) << 23 { return 0x80 }
    let result = Minifloat.roundMagnitude(f, mantissaBits: UInt32(7 - exponentBits), bias: bias)
    // No negative zero: 0x80 is the NaN.
    return result == 0 ? 0 : result | UInt8(truncatingIfNeeded: sign >> 24)
  }

  /// Clamps overflow and infinities to ±max instead of the NaN they encode as; NaN stays NaN.
  @inlinable @inline(__always) public static func saturate(_ encoded: UInt8, _ value: Float) -> UInt8 {
    encoded == 0x80 && !value.isNaN ? (value.sign == .minus ? 0xFF : 0x7F) : encoded
  }

  /// Exact; NaN becomes `0x7F800001`, torch's (signalling) bits.
  @inlinable @inline(__always) public static func decode(_ bits: UInt8) -> UInt32 {
    if bits == 0x80 { return 0x7F80_0001 }
    let sign = UInt32(bits & 0x80) << 24
    return sign | Minifloat.exactBits(bits & 0x7F, mantissaBits: 7 - exponentBits, bias: 1 << (exponentBits - 1))
  }

  /// The largest finite value, `0x7F`.
  @inlinable public static var greatestFiniteMagnitude: Self { Self(bitPattern: 0x7F) }
}

/// FP8 E4M3 "fnuz" (no negative zero, no infinities, NaN = `0x80`), PyTorch `float8_e4m3fnuz`: |x| ≥ 248 rounds to
/// NaN, saturation clamps to ±240.
@frozen public struct Float8E4M3FNUZ: Float8FNUZStorage {
  /// The raw bits.
  public var bitPattern: UInt8
  /// Creates a value from raw bits.
  @inlinable public init(bitPattern: UInt8) { self.bitPattern = bitPattern }
  /// Four exponent bits, bias 8.
  @inlinable public static var exponentBits: Int { 4 }
}

/// FP8 E5M2 "fnuz" (no negative zero, no infinities, NaN = `0x80`), PyTorch `float8_e5m2fnuz`: |x| ≥ 61440 rounds
/// to NaN, saturation clamps to ±57344.
@frozen public struct Float8E5M2FNUZ: Float8FNUZStorage {
  /// The raw bits.
  public var bitPattern: UInt8
  /// Creates a value from raw bits.
  @inlinable public init(bitPattern: UInt8) { self.bitPattern = bitPattern }
  /// Five exponent bits, bias 16.
  @inlinable public static var exponentBits: Int { 5 }
}

/// FP8 E8M0 "fnu" (an unsigned power of two, 2⁻¹²⁷…2¹²⁷; NaN = `0xFF`), PyTorch `float8_e8m0fnu`, MX block scales.
@frozen public struct Float8E8M0FNU: Float8Storage {
  /// The raw bits: the biased exponent.
  public var bitPattern: UInt8
  /// Creates a value from raw bits.
  @inlinable public init(bitPattern: UInt8) { self.bitPattern = bitPattern }

  /// Rounds like PyTorch: the sign is dropped, the exponent rounds up when the mantissa is ≥ 0.5 (ties to even on
  /// the implicit bit), zero becomes 2⁻¹²⁷, infinities and NaN become NaN.
  @inlinable @inline(__always) public static func encode(_ floatBits: UInt32) -> UInt8 {
    let exponent = UInt8(truncatingIfNeeded: floatBits >> 23)
    if exponent == 0xFF { return 0xFF }
    let guardBit = floatBits & 0x40_0000 != 0
    let roundOrSticky = floatBits & 0x3F_FFFF != 0
    let implicitBit = exponent > 0
    return guardBit && (roundOrSticky || implicitBit) ? exponent + 1 : exponent
  }

  /// Values that would round past 2¹²⁷, and infinities, become 2¹²⁷.
  @inlinable @inline(__always) public static func saturate(_ encoded: UInt8, _ value: Float) -> UInt8 {
    encoded == 0xFF && !value.isNaN ? 0xFE : encoded
  }

  /// Exact; `0x00` is 2⁻¹²⁷ and NaN becomes `0x7F800001`, as in torch.
  @inlinable @inline(__always) public static func decode(_ bits: UInt8) -> UInt32 {
    switch bits {
    case 0: return 0x0040_0000
    case 0xFF: return 0x7F80_0001
    default: return UInt32(bits) << 23
    }
  }

  /// The largest finite value, 2¹²⁷.
  public static let greatestFiniteMagnitude = Float8E8M0FNU(bitPattern: 0xFE)
}

/// The bit-level rounding and widening every small float format shares (fp8, and fp4's E2M1).
@usableFromInline enum Minifloat {
  /// The bits of `floatBits` encoded by `magnitude` (which sees the magnitude's bits) with the sign in bit 7.
  @inlinable @inline(__always)
  static func signed(_ floatBits: UInt32, _ magnitude: (UInt32) -> UInt8) -> UInt8 {
    let sign = floatBits & 0x8000_0000
    return magnitude(floatBits ^ sign) | UInt8(truncatingIfNeeded: sign >> 24)
  }

  /// c10's rounding of a float32 magnitude `f` (below the overflow threshold) to a small float's magnitude with
  /// `mantissaBits` and `bias`, to nearest even.
  ///
  /// Subnormal results come from one float addition of a magic number whose exponent puts the subnormal step at
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
