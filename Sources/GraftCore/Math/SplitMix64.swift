/// A small, fast, seedable random generator (SplitMix64).
///
/// Everything seeded in Graft (demo weights, test data, random inputs, the MoE passes' choices, DenoiseRep's z) draws
/// from it, so the same seed gives the same numbers on every machine and every run. The derived draws below are
/// part of that contract: each one fixes which bits it uses, because committed outputs depend on the exact stream.
public struct SplitMix64: RandomNumberGenerator, Sendable {
  /// The golden-ratio increment added to the state on every step.
  public static let increment: UInt64 = 0x9E37_79B9_7F4A_7C15

  @usableFromInline var state: UInt64

  /// Creates a generator from a seed.
  @inlinable public init(seed: UInt64) { state = seed }

  /// SplitMix64's output function: a bijective mix of 64 bits.
  @inlinable public static func mix(_ value: UInt64) -> UInt64 {
    var z = value
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// Output number `index` (from 0) of a generator seeded with `seed`, without stepping through the ones before:
  /// for counter-based values that must not depend on the order in which they are drawn.
  @inlinable public static func value(seed: UInt64, index: UInt64) -> UInt64 {
    mix(seed &+ (index &+ 1) &* increment)
  }

  /// The next 64 random bits.
  @inlinable public mutating func next() -> UInt64 {
    state &+= Self.increment
    return Self.mix(state)
  }

  /// A float uniformly distributed in [-1, 1) (the top 24 bits).
  @inlinable public mutating func nextSignedUnitFloat() -> Float { Self.signedUnitFloat(next()) }

  /// The float in [-1, 1) that ``nextSignedUnitFloat()`` makes of 64 random bits (the top 24).
  @inlinable public static func signedUnitFloat(_ bits: UInt64) -> Float { Float(bits >> 40) / Float(1 << 23) - 1 }

  /// An array of `count` floats in [-1, 1).
  public mutating func floats(_ count: Int, scale: Float = 1) -> [Float] {
    (0..<count).map { _ in nextSignedUnitFloat() * scale }
  }

  /// A double uniformly distributed in [0, 1) (the top 53 bits).
  @inlinable public mutating func uniform() -> Double { Double(next() >> 11) / 9_007_199_254_740_992 }

  /// A double uniformly distributed in (0, 1): the top 53 bits shifted by half a step, so it is never 0 (safe to
  /// take the logarithm of).
  @inlinable public mutating func openUniform() -> Double { (Double(next() >> 11) + 0.5) / 9_007_199_254_740_992 }

  /// An integer in `0..<n` (`0` when `n < 1`), by remainder: the tiny modulo bias is part of the stream.
  @inlinable public mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }

  /// A standard normal draw by Box–Muller: `√(−2 ln u₁) · cos(2π u₂)` with u₁ from ``openUniform()`` and u₂ from
  /// ``uniform()``, in that order (the sine half is not kept, so every draw costs two steps).
  public mutating func normal() -> Double {
    let u1 = openUniform()
    let u2 = uniform()
    return (-2 * Elementary.log(u1)).squareRoot() * Elementary.sinCos(2 * Double.pi * u2).cos
  }

  /// ``normal()`` rounded to a float.
  public mutating func normalFloat() -> Float { Float(normal()) }

  /// `count` standard normal draws by Marsaglia's polar method (pairs from two ``openUniform()`` draws, rejected
  /// outside the unit disc; both values of a pair are kept).
  public mutating func polarNormals(_ count: Int) -> [Double] {
    var out: [Double] = []
    out.reserveCapacity(count + 1)
    while out.count < count {
      let u = 2 * openUniform() - 1
      let v = 2 * openUniform() - 1
      let s = u * u + v * v
      if s >= 1 || s == 0 { continue }
      let f = (-2 * Elementary.log(s) / s).squareRoot()
      out.append(u * f)
      out.append(v * f)
    }
    return Array(out.prefix(count))
  }

  /// An approximately standard normal float (Irwin–Hall).
  ///
  /// The sum of four ``nextSignedUnitFloat()`` draws scaled to unit variance: cheap and bounded (|x| < 3.47), for
  /// sample data, not for anything that needs the exact law.
  @inlinable public mutating func approximateNormalFloat() -> Float {
    var s: Float = 0
    for _ in 0..<4 { s += nextSignedUnitFloat() }
    return s * 0.866_025_4
  }

  /// A uniformly random permutation of `0..<n` (Fisher–Yates, drawing with ``below(_:)``).
  public mutating func permutation(_ n: Int) -> [Int] {
    var p = Array(0..<n)
    if n > 1 {
      for i in stride(from: n - 1, to: 0, by: -1) { p.swapAt(i, below(i + 1)) }
    }
    return p
  }
}
