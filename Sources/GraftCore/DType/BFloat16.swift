/// A bfloat16 value: the top 16 bits of an IEEE binary32, stored only.
///
/// Arithmetic is deliberately absent (compute in `Float`, store narrow); conforming to `BinaryFloatingPoint` would
/// drag in a large, slow generic surface. Conversions round to nearest even, like PyTorch and ml_dtypes.
@frozen public struct BFloat16: Hashable, Sendable, BitwiseCopyable {
  /// The raw bits.
  public var bitPattern: UInt16

  /// Creates a value from raw bits.
  @inlinable public init(bitPattern: UInt16) { self.bitPattern = bitPattern }

  /// Rounds a `Float` to nearest even; a NaN becomes the quiet NaN `0x7FC0`.
  ///
  /// The NaN rule is PyTorch's scalar rule (`c10::detail::round_to_nearest_even`), which also applies when torch
  /// widens a half, fp8 or integer tensor to bfloat16. Bulk `float32 → bfloat16` casts use ``init(bulkCastOf:)``.
  @inlinable public init(_ value: Float) { bitPattern = BFloat16.roundedBits(value, nan: 0x7FC0) }

  /// Rounds a `Float` to nearest even the way PyTorch's vectorised `float32 → bfloat16` copy does: NaN becomes `0xFFFF`.
  ///
  /// PyTorch's AVX2/AVX-512 `cvtfp32_bf16` blends every NaN lane with `0xFFFF` (a negative quiet NaN), whatever the
  /// input's sign or payload; its scalar path (a strided tensor, or a CPU without AVX2) gives `0x7FC0` instead.
  @inlinable public init(bulkCastOf value: Float) { bitPattern = BFloat16.roundedBits(value, nan: 0xFFFF) }

  /// `value` rounded to nearest even on its top 16 bits; a NaN becomes `nan`.
  @inlinable static func roundedBits(_ value: Float, nan: UInt16) -> UInt16 {
    let bits = value.bitPattern
    return value.isNaN ? nan : UInt16(truncatingIfNeeded: (bits &+ 0x7FFF &+ ((bits &>> 16) & 1)) &>> 16)
  }

  /// Whether the value is a NaN.
  @inlinable public var isNaN: Bool { bitPattern & 0x7FFF > 0x7F80 }
  /// Whether the value is an infinity.
  @inlinable public var isInfinite: Bool { bitPattern & 0x7FFF == 0x7F80 }
  /// The largest finite value, `0x7F7F` (≈ 3.39e38).
  public static let greatestFiniteMagnitude = BFloat16(bitPattern: 0x7F7F)
  /// Positive infinity.
  public static let infinity = BFloat16(bitPattern: 0x7F80)
}

extension Float {
  /// Widens a bfloat16 exactly (NaN payloads are kept bit for bit, as PyTorch does).
  @inlinable public init(_ value: BFloat16) { self.init(bitPattern: UInt32(value.bitPattern) &<< 16) }
}

extension BFloat16: CustomStringConvertible {
  /// The value as a `Float`.
  public var description: String { Float(self).description }
}
