/// A small, fast, seedable random generator (SplitMix64).
///
/// Everything seeded in Graft (demo weights, test data, random inputs) draws from it, so the same seed gives the
/// same numbers on every machine and every run.
public struct SplitMix64: RandomNumberGenerator, Sendable {
  private var state: UInt64
  /// Creates a generator from a seed.
  public init(seed: UInt64) { state = seed }
  /// The next 64 random bits.
  public mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
  /// A float uniformly distributed in [-1, 1).
  public mutating func nextSignedUnitFloat() -> Float { Float(next() >> 40) / Float(1 << 23) - 1 }
  /// An array of `count` floats in [-1, 1).
  public mutating func floats(_ count: Int, scale: Float = 1) -> [Float] {
    (0..<count).map { _ in nextSignedUnitFloat() * scale }
  }
}
