/// Vectorised transcendental functions on `SIMD8<Float>`.
///
/// The standard library has no `exp`/`erf`/`tanh`, and library code may not import Glibc; these also vectorise,
/// which scalar libm calls do not. Accuracy is tested against Float64 references in `VectorMathTests`.
enum VectorMath {
  /// e^x, relative error below 2e-7 on [-87, 88]; inputs are clamped to that range (so exp(-∞) ≈ 1e-38, not 0).
  @inline(__always)
  static func exp(_ x: SIMD8<Float>) -> SIMD8<Float> {
    // Cephes expf: x = n·ln2 + r with |r| ≤ ln2/2, then a degree-6 polynomial for e^r and 2^n from the exponent bits.
    let clamped = clamp(x, -87.3, 88.3)
    // Adding 1.5·2²³ rounds to an integer in the low mantissa bits.
    let magic = SIMD8<Float>(repeating: 12_582_912)
    let shifted = clamped * SIMD8(repeating: 1.442_695_04) + magic
    let n = shifted - magic
    var r = clamped - n * SIMD8(repeating: 0.693_359_375)
    r = r - n * SIMD8(repeating: -2.121_944_4e-4)
    var p = SIMD8<Float>(repeating: 1.987_569_15e-4)
    p = p * r + SIMD8(repeating: 1.398_199_95e-3)
    p = p * r + SIMD8(repeating: 8.333_451_9e-3)
    p = p * r + SIMD8(repeating: 4.166_579_59e-2)
    p = p * r + SIMD8(repeating: 1.666_666_55e-1)
    p = p * r + SIMD8(repeating: 5.000_000_12e-1)
    let er = p * (r * r) + r + SIMD8(repeating: 1)
    let bits = unsafeBitCast(shifted, to: SIMD8<UInt32>.self) &<< 23 &+ SIMD8(repeating: 127 << 23)
    return er * unsafeBitCast(bits, to: SIMD8<Float>.self)
  }

  /// The error function, absolute error below 3e-7.
  @inline(__always)
  static func erf(_ x: SIMD8<Float>) -> SIMD8<Float> {
    // Below |x| = 0.5 the Maclaurin series (to x¹⁵) is exact to float precision, relative error included; above, the
    // Abramowitz–Stegun 7.1.26 form that PyTorch's vectorised erf uses (|error| ≤ 1.5e-7).
    let ax = magnitude(x)
    let t = SIMD8<Float>(repeating: 1) / (SIMD8(repeating: 0.327_591_1) * ax + SIMD8(repeating: 1))
    var poly = SIMD8<Float>(repeating: 1.061_405_429)
    poly = poly * t + SIMD8(repeating: -1.453_152_027)
    poly = poly * t + SIMD8(repeating: 1.421_413_741)
    poly = poly * t + SIMD8(repeating: -0.284_496_736)
    poly = poly * t + SIMD8(repeating: 0.254_829_592)
    let tail = SIMD8<Float>(repeating: 1) - poly * t * exp(-ax * ax)
    let large = withSignOf(x, tail)
    // Maclaurin series to x^15 for small |x|: erf(x) = 2/√π Σ (-1)^n x^(2n+1) / (n! (2n+1)).
    let z = x * x
    var s = SIMD8<Float>(repeating: Float(-1.0 / (5040 * 15)))
    s = s * z + SIMD8(repeating: Float(1.0 / (720 * 13)))
    s = s * z + SIMD8(repeating: Float(-1.0 / (120 * 11)))
    s = s * z + SIMD8(repeating: Float(1.0 / (24 * 9)))
    s = s * z + SIMD8(repeating: Float(-1.0 / (6 * 7)))
    s = s * z + SIMD8(repeating: Float(1.0 / (2 * 5)))
    s = s * z + SIMD8(repeating: Float(-1.0 / 3))
    s = s * z + SIMD8(repeating: 1)
    let small = s * x * SIMD8(repeating: 1.128_379_167)
    return select(less(ax, 0.5), small, large)
  }

  // Lane masks and selects are spelled with integer bit operations: the stdlib's SIMD comparisons and
  // `replacing(with:where:)` / `clamped` were measured building masks one lane at a time through the stack (60 % of
  // GELU's time) or calling outlined generic `pointwiseMin/Max`.

  /// All-ones lanes where `a < b` (from the sign of `a − b`; NaN lanes are unspecified).
  @inline(__always)
  static func less(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<UInt32> {
    unsafeBitCast(unsafeBitCast(a - b, to: SIMD8<Int32>.self) &>> 31, to: SIMD8<UInt32>.self)
  }

  /// All-ones lanes where `a < b`.
  @inline(__always)
  static func less(_ a: SIMD8<Float>, _ b: Float) -> SIMD8<UInt32> { less(a, SIMD8(repeating: b)) }

  /// `mask ? t : f` lane by lane.
  @inline(__always)
  static func select(_ mask: SIMD8<UInt32>, _ t: SIMD8<Float>, _ f: SIMD8<Float>) -> SIMD8<Float> {
    let tb = unsafeBitCast(t, to: SIMD8<UInt32>.self)
    let fb = unsafeBitCast(f, to: SIMD8<UInt32>.self)
    return unsafeBitCast((tb & mask) | (fb & ~mask), to: SIMD8<Float>.self)
  }

  /// `x` limited to `lo...hi`.
  @inline(__always)
  static func clamp(_ x: SIMD8<Float>, _ lo: Float, _ hi: Float) -> SIMD8<Float> {
    let low = SIMD8<Float>(repeating: lo)
    let high = SIMD8<Float>(repeating: hi)
    return select(less(high, x), high, select(less(x, low), low, x))
  }

  /// The non-negative `magnitude` with the sign of `x`.
  @inline(__always)
  static func withSignOf(_ x: SIMD8<Float>, _ magnitude: SIMD8<Float>) -> SIMD8<Float> {
    let sign = unsafeBitCast(x, to: SIMD8<UInt32>.self) & SIMD8(repeating: 0x8000_0000)
    return unsafeBitCast(unsafeBitCast(magnitude, to: SIMD8<UInt32>.self) | sign, to: SIMD8<Float>.self)
  }

  /// |x| by clearing the sign bits (the stdlib's `abs` is not defined on SIMD vectors).
  @inline(__always)
  static func magnitude(_ x: SIMD8<Float>) -> SIMD8<Float> {
    unsafeBitCast(unsafeBitCast(x, to: SIMD8<UInt32>.self) & SIMD8(repeating: 0x7FFF_FFFF), to: SIMD8<Float>.self)
  }

  /// The hyperbolic tangent, absolute error below 2e-7.
  @inline(__always)
  static func tanh(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let ax = select(less(SIMD8(repeating: 20), magnitude(x)), SIMD8(repeating: 20), magnitude(x))
    let e = exp(ax + ax)
    let large = SIMD8<Float>(repeating: 1) - SIMD8(repeating: 2) / (e + SIMD8(repeating: 1))
    // Odd series to x^9 where 1 − 2/(e^{2x}+1) would cancel.
    let z = x * x
    var s = SIMD8<Float>(repeating: Float(62.0 / 2835))
    s = s * z + SIMD8(repeating: Float(-17.0 / 315))
    s = s * z + SIMD8(repeating: Float(2.0 / 15))
    s = s * z + SIMD8(repeating: Float(-1.0 / 3))
    s = s * z + SIMD8(repeating: 1)
    let small = s * x
    return select(less(magnitude(x), 0.0625), small, withSignOf(x, large))
  }

  /// Applies a SIMD8 function to `count` values in place, padding the tail through a temporary vector.
  @inline(__always)
  static func apply(
    _ values: UnsafeMutablePointer<Float>, count: Int, _ f: (SIMD8<Float>) -> SIMD8<Float>
  ) {
    let raw = UnsafeMutableRawPointer(values)
    var i = 0
    while i + 8 <= count {
      raw.storeBytes(
        of: f(raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)), toByteOffset: i * 4,
        as: SIMD8<Float>.self)
      i += 8
    }
    if i < count {
      var v = SIMD8<Float>()
      for l in 0..<(count - i) { v[l] = values[i + l] }
      let r = f(v)
      for l in 0..<(count - i) { values[i + l] = r[l] }
    }
  }
}
