import GraftCore

/// How each expert's hidden units are chosen when experts are recycled from a dense MLP.
///
/// MoE-Jetpack's strategies (reference §1.3). Index sets may overlap; every set is sorted and unique.
public enum MoERecycleStrategy: String, Sendable, CaseIterable {
  /// Per expert `sort(randperm(h)[:k])`, independent across experts and layers.
  case random
  /// `round(linspace(0, h−1, k))`, the same for every expert.
  case uniform
  /// Sampled without replacement ∝ `Σ|a_i|` (calibration or synthetic statistics).
  case importanceL1 = "importance-l1"
  /// Sampled without replacement ∝ `sqrt(Σa_i²)`.
  case importanceL2 = "importance-l2"
  /// Sampled without replacement ∝ the activation frequency `Σ1[a_i > 0]`.
  case importanceFrequency = "importance-freq"
  /// Data-free: sampled ∝ `‖W1[i,:]‖·‖W2[:,i]‖`.
  case weightProduct = "importance-weight"
  /// Data-free: sampled ∝ `E|GELU(u_i)|` under the preceding LayerNorm's affine model.
  case expectedActivation = "importance-expected"
  /// Co-activation graph partitioning: communities sampled ∝ their internal weight, concatenated, truncated to k.
  case coactivation

  /// Whether the strategy reads activation statistics.
  public var needsStatistics: Bool {
    switch self {
    case .importanceL1, .importanceL2, .importanceFrequency: return true
    default: return false
    }
  }
}

/// How the hidden units are split into disjoint experts when a dense MLP is partitioned.
public enum MoEPartitionStrategy: String, Sendable, CaseIterable {
  /// A balanced random split (LLaMA-MoE `RandomSplit`).
  case random
  /// Balanced k-means of the L2-normalised `fc1` rows (MoEfication `ParamSplit`, LLaMA-MoE clustering).
  case clustering
  /// Units ranked by importance (data-free weight product) and dealt in snake order, so every expert gets a
  /// comparable share of the importance mass.
  case importance
  /// Balanced partition of the co-activation graph (spectral bisection + Kernighan–Lin).
  case coactivation
}

/// Index-set construction for both passes.
enum MoEIndexSets {
  /// `round(linspace(0, n−1, k))` with round-half-even, as `torch.round`.
  static func linspace(_ n: Int, _ k: Int) -> [Int] {
    guard k > 1 else { return [0] }
    return (0..<k).map { i in Int((Double(i) * Double(n - 1) / Double(k - 1)).rounded(.toNearestOrEven)) }
  }

  /// The top-k indices by score (ties to the lower index), sorted.
  static func topK(_ scores: [Double], _ k: Int) -> [Int] {
    scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }.prefix(k).sorted()
  }

  /// Recycled (possibly overlapping) sets: `experts` sets of `k` units out of `n`.
  static func recycle(
    strategy: MoERecycleStrategy, n: Int, k: Int, experts: Int, scores: [Double]?, graph: [Double]?,
    globalTopK: Bool, communities: Int, seed: UInt64, layer: Int, stream: UInt64
  ) -> [[Int]] {
    switch strategy {
    case .random:
      return (0..<experts).map { e in
        var r = SplitMix64(seed: seed, layer: layer, stream: stream &+ UInt64(e) &* 0x1000_0001)
        return Array(r.permutation(n).prefix(k)).sorted()
      }
    case .uniform:
      return Array(repeating: linspace(n, k), count: experts)
    case .importanceL1, .importanceL2, .importanceFrequency, .weightProduct, .expectedActivation:
      let p = scores ?? [Double](repeating: 1, count: n)
      if globalTopK { return Array(repeating: topK(p, k), count: experts) }
      return (0..<experts).map { e in
        var r = SplitMix64(seed: seed, layer: layer, stream: stream &+ UInt64(e) &* 0x1000_0001)
        return r.weightedSample(p, count: k).sorted()
      }
    case .coactivation:
      let a = graph ?? [Double](repeating: 0, count: n * n)
      let parts = max(1, min(communities, n))
      let groups = MoEPartitioner.partitionGraph(a, n: n, sizes: MoEPartitioner.balancedSizes(n, parts: parts))
      let weights = groups.map { g -> Double in
        var w = 0.0
        for i in g { for j in g where j != i { w += a[i * n + j] } }
        return w
      }
      let total = weights.reduce(0, +)
      let p = total > 0 ? weights : [Double](repeating: 1, count: groups.count)
      return (0..<experts).map { e in
        var r = SplitMix64(seed: seed, layer: layer, stream: stream &+ UInt64(e) &* 0x1000_0001)
        // Jetpack samples parts/2 + 1 communities; all of them are ordered here so k units are always reached.
        let order = r.weightedSample(p, count: groups.count)
        var chosen: [Int] = []
        for c in order where chosen.count < k { chosen += groups[c] }
        return Array(chosen.prefix(k)).sorted()
      }
    }
  }

  /// A partition of `units` into parts of `sizes` (a disjoint cover of `units`).
  static func partition(
    strategy: MoEPartitionStrategy, units: [Int], sizes: [Int], w1: [Float], width d: Int, scores: [Double],
    graph: [Double]?, hidden n: Int, seed: UInt64, layer: Int
  ) -> [[Int]] {
    var r = SplitMix64(seed: seed, layer: layer, stream: 0x5041_5254)
    switch strategy {
    case .random:
      let p = r.permutation(units.count).map { units[$0] }
      var parts: [[Int]] = []
      var o = 0
      for s in sizes {
        parts.append(Array(p[o..<(o + s)]).sorted())
        o += s
      }
      return parts
    case .clustering:
      var rows: [Float] = []
      rows.reserveCapacity(units.count * d)
      for u in units { rows += w1[(u * d)..<((u + 1) * d)] }
      return MoEPartitioner.balancedKMeans(rows, n: units.count, d: d, sizes: sizes, random: &r).map { part in
        part.map { units[$0] }.sorted()
      }
    case .importance:
      let ranked = units.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
      var parts = [[Int]](repeating: [], count: sizes.count)
      var e = 0
      var direction = 1
      for u in ranked {
        // Snake order skips parts that are already full, so uneven sizes still fill exactly.
        var guardCount = 0
        while parts[e].count >= sizes[e] && guardCount < 2 * sizes.count {
          e += direction
          if e == sizes.count || e < 0 {
            direction = -direction
            e += direction
          }
          guardCount += 1
        }
        parts[e].append(u)
        e += direction
        if e == sizes.count || e < 0 {
          direction = -direction
          e += direction
        }
      }
      return parts.map { $0.sorted() }
    case .coactivation:
      let m = units.count
      let full = graph ?? [Double](repeating: 0, count: n * n)
      var sub = [Double](repeating: 0, count: m * m)
      for (p, i) in units.enumerated() { for (q, j) in units.enumerated() { sub[p * m + q] = full[i * n + j] } }
      return MoEPartitioner.partitionGraph(sub, n: m, sizes: sizes).map { part in part.map { units[$0] }.sorted() }
    }
  }
}
