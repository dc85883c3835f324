public import GraftCore

/// The output layouts of the MoE passes (`Formats/moe-layouts.md`).
public enum MoELayout: String, Sendable, CaseIterable {
  /// Graft's generic timm-style layout the engine runs: `mlp.router.weight [E, d]`, `mlp.experts.{e}.fc1.weight`.
  case generic
  /// MoE-Jetpack's simplified same-width layout: `mlp.experts.<ratio>.fc1.weight [E, r·h, d]`, b2 in every expert.
  case jetpack
  /// MoE-Jetpack's released dual-path SpheroMoE layout: `mlp.phi`, `mlp.core_experts.vit_fc1.weight`, ….
  case dualPath = "dual-path"
}

/// A gate convention, spelled as the engine's `MoEGate` (this module does not import the engine).
public enum MoEGateConvention: String, Sendable, CaseIterable {
  /// Softmax, top-k, renormalised.
  case softmaxTopKRenormalized = "softmax-topk-renorm"
  /// Softmax, top-k, not renormalised (V-MoE).
  case softmaxTopK = "softmax-topk"
  /// Every expert with weight 1.
  case allOn = "all-on"
}

/// What a MoE pass did, layer by layer.
///
/// The neuron → expert index sets, the strategy and seed, and a summary of how much of the dense MLP each expert
/// covers. Stored in the output's lineage (`.graft`) or as JSON beside it.
public struct MoEManifest: Sendable {
  /// One converted block.
  public struct Layer: Sendable {
    /// The block index.
    public var block: Int
    /// The dense hidden width.
    public var hidden: Int
    /// Each routed expert's hidden units (sorted, unique; indices into the source MLP's hidden units).
    public var expertUnits: [[Int]]
    /// The shared expert's hidden units, if any.
    public var sharedUnits: [Int]?
    /// Each expert's residual channels (teacher-width recycling only).
    public var expertChannels: [[Int]]?
    /// Experts per core/universal group (dual-path only): `(core, universal)`.
    public var groups: (core: Int, universal: Int)?
    /// The score the strategy used, per hidden unit (for the importance mass), or `nil`.
    public var scores: [Double]?

    /// The fraction of hidden units in at least one expert (shared included).
    public var coverage: Double {
      var seen = Set<Int>()
      for s in expertUnits { seen.formUnion(s) }
      if let sharedUnits { seen.formUnion(sharedUnits) }
      return hidden > 0 ? Double(seen.count) / Double(hidden) : 0
    }

    /// Whether the routed experts (and the shared expert) are disjoint and together cover every hidden unit.
    public var isPartition: Bool {
      let all = expertUnits.flatMap { $0 } + (sharedUnits ?? [])
      return all.count == hidden && Set(all).count == hidden
    }

    /// The mean and maximum Jaccard overlap between pairs of experts.
    public var overlap: (mean: Double, max: Double) {
      let sets = expertUnits.map(Set.init)
      var total = 0.0
      var worst = 0.0
      var pairs = 0
      // Past 64 experts the pairwise matrix costs more than it tells; the first 64 are a fair sample.
      let n = min(sets.count, 64)
      for a in 0..<n {
        for b in (a + 1)..<max(n, a + 1) {
          let inter = sets[a].intersection(sets[b]).count
          let union = sets[a].union(sets[b]).count
          let j = union > 0 ? Double(inter) / Double(union) : 0
          total += j
          worst = max(worst, j)
          pairs += 1
        }
      }
      return (pairs > 0 ? total / Double(pairs) : 0, worst)
    }

    /// The fraction of the total score each expert's units hold.
    public var importanceMass: [Double]? {
      guard let scores else { return nil }
      let total = scores.reduce(0, +)
      guard total > 0 else { return nil }
      return expertUnits.map { s in s.reduce(0.0) { $0 + scores[$1] } / total }
    }

    /// The layer as JSON.
    public var json: JSONValue {
      var o = JSONObject()
      o["block"] = .integer(block)
      o["hidden"] = .integer(hidden)
      o["expert_hidden"] = .array(expertUnits.map { .integer($0.count) })
      o["coverage"] = .double(coverage)
      o["partition"] = .bool(isPartition)
      let ov = overlap
      o["overlap_mean_jaccard"] = .double(ov.mean)
      o["overlap_max_jaccard"] = .double(ov.max)
      if let mass = importanceMass { o["importance_mass"] = .array(mass.map(JSONValue.double)) }
      if let groups { o["groups"] = ["core": .integer(groups.core), "universal": .integer(groups.universal)] }
      o["expert_units"] = .array(expertUnits.map { .array($0.map(JSONValue.integer)) })
      if let sharedUnits { o["shared_units"] = .array(sharedUnits.map(JSONValue.integer)) }
      if let expertChannels { o["expert_channels"] = .array(expertChannels.map { .array($0.map(JSONValue.integer)) }) }
      return .object(o)
    }
  }

  /// `moe.upcycle` or `moe.recycle`.
  public var operation: String
  /// The pass's parameters (method, strategy, seed, experts, layout, gate, …).
  public var parameters: JSONObject
  /// Where the statistics came from: `none`, `data-free`, `synthetic …`, `calibration …`.
  public var statisticsSource: String
  /// The converted blocks.
  public var layers: [Layer]

  /// The manifest as JSON.
  public var json: JSONValue {
    var o = JSONObject()
    o["operation"] = .string(operation)
    o["parameters"] = .object(parameters)
    o["statistics"] = .string(statisticsSource)
    o["layers"] = .array(layers.map(\.json))
    return .object(o)
  }
}
