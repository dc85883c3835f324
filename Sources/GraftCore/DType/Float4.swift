/// An MXFP4 E2M1 value (OCP MX v1.0 §5.3.3): one sign bit, two exponent bits, one mantissa bit, in the low nibble.
///
/// The representable magnitudes are 0, 0.5, 1, 1.5, 2, 3, 4 and 6; there is no infinity and no NaN. Tensors store two
/// values per byte, element `2i` in the low nibble and `2i + 1` in the high nibble (PyTorch `float4_e2m1fn_x2`,
/// ml_dtypes `float4_e2m1fn` packing).
@frozen public struct Float4E2M1: Hashable, Sendable, BitwiseCopyable {
  /// The raw bits, in the low nibble.
  public var bitPattern: UInt8

  /// Creates a value from raw bits (only the low nibble is kept).
  @inlinable public init(bitPattern: UInt8) { self.bitPattern = bitPattern & 0xF }

  /// Rounds to nearest even, saturating to ±6 (the OCP MX convention, and what ml_dtypes does).
  ///
  /// PyTorch has no `.to(float4_e2m1fn_x2)`. Infinities saturate to ±6. A NaN has no encoding; it becomes a zero
  /// of the NaN's sign (ml_dtypes gives a zero of the *opposite* sign, which looks accidental). Cast reports count it.
  @inlinable public init(_ value: Float) {
    let sign: UInt8 = value.sign == .minus ? 0x8 : 0
    let magnitude = value.bitPattern & 0x7FFF_FFFF
    // E2M1 is a minifloat with one mantissa bit and bias 1; at 6 and above (infinities included) it saturates.
    let code =
      value.isNaN
      ? 0 : magnitude >= Float(6).bitPattern ? 7 : Minifloat.roundMagnitude(magnitude, mantissaBits: 1, bias: 1)
    bitPattern = sign | code
  }

  /// The largest finite value, 6.
  public static let greatestFiniteMagnitude = Float4E2M1(bitPattern: 0x7)
}

extension Float {
  /// Widens an E2M1 value exactly.
  @inlinable public init(_ value: Float4E2M1) {
    self.init(
      bitPattern: UInt32(value.bitPattern & 0x8) << 28
        | Minifloat.exactBits(value.bitPattern & 0x7, mantissaBits: 1, bias: 1))
  }
}
