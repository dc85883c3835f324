public import GraftCore

extension SplitMix64 {
  /// A generator for one `(layer, stream)` pair of an MoE pass: independent of the order in which layers are
  /// processed.
  init(seed: UInt64, layer: Int, stream: UInt64) {
    var mixer = SplitMix64(seed: seed ^ (UInt64(truncatingIfNeeded: layer) &* 0xA24B_AED4_963E_E407) ^ stream)
    self.init(seed: mixer.next())
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
      let l = Elementary.log(openUniform())
      keys.append(w > 0 ? (1, l / w, i) : (0, l, i))
    }
    keys.sort { a, b in
      if a.tier != b.tier { return a.tier > b.tier }
      return a.key != b.key ? a.key > b.key : a.index < b.index
    }
    return keys.prefix(k).map(\.index)
  }
}
