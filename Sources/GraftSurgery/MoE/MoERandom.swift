import GraftCore

/// The seeded generator behind every random choice of the MoE passes (SplitMix64), so a seed gives the same bytes on
/// every machine.
public struct MoERandom: Sendable {
  var state: UInt64

  /// Creates a generator.
  public init(seed: UInt64) { state = seed }

  /// A generator for one `(layer, stream)` pair: independent of the order in which layers are processed.
  init(seed: UInt64, layer: Int, stream: UInt64) {
    var mixer = MoERandom(seed: seed ^ (UInt64(truncatingIfNeeded: layer) &* 0xA24B_AED4_963E_E407) ^ stream)
    state = mixer.next()
  }

  /// The next 64 random bits.
  public mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// Uniform in [0, 1).
  mutating func uniform() -> Double { Double(next() >> 11) / 9_007_199_254_740_992 }

  /// Uniform integer in `0..<n`.
  mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }

  /// A standard normal draw (Box–Muller).
  mutating func normal() -> Double {
    let u1 = (Double(next() >> 11) + 0.5) / 9_007_199_254_740_992
    let u2 = uniform()
    return (-2 * DenoiseRepMath.log(u1)).squareRoot() * DenoiseRepMath.sinCos(2 * Double.pi * u2).cos
  }

  /// A uniformly random permutation of `0..<n` (Fisher–Yates).
  mutating func permutation(_ n: Int) -> [Int] {
    var p = Array(0..<n)
    if n > 1 {
      for i in stride(from: n - 1, to: 0, by: -1) { p.swapAt(i, below(i + 1)) }
    }
    return p
  }

  /// `k` distinct indices drawn without replacement with probability proportional to `weights`, in draw order
  /// (`torch.multinomial(p, k, replacement=False)` semantics; zero weights are drawn last, uniformly).
  ///
  /// Uses Efraimidis–Spirakis keys `u^(1/w)`, compared as `log(u)/w`, which gives the same distribution as
  /// successive draws and costs one sort.
  public mutating func weightedSample(_ weights: [Double], count k: Int) -> [Int] {
    var keys: [(tier: Int, key: Double, index: Int)] = []
    keys.reserveCapacity(weights.count)
    for (i, w) in weights.enumerated() {
      let u = (Double(next() >> 11) + 0.5) / 9_007_199_254_740_992
      let l = DenoiseRepMath.log(u)
      keys.append(w > 0 ? (1, l / w, i) : (0, l, i))
    }
    keys.sort { a, b in
      if a.tier != b.tier { return a.tier > b.tier }
      return a.key != b.key ? a.key > b.key : a.index < b.index
    }
    return keys.prefix(k).map(\.index)
  }
}
