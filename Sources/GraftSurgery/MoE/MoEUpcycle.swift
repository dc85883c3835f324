public import GraftCore

/// Sparse upcycling and exact partitioning of a dense timm ViT's MLPs into mixture-of-experts layers.
public enum MoEUpcycle {
  /// How the experts are made from the dense MLP.
  public enum Method: String, Sendable, CaseIterable {
    /// E identical copies of the MLP (Komatsuzaki et al.): exact with renormalised top-k, for every k.
    case copies
    /// The hidden units split into E disjoint experts, b2 added once: exact with all experts on.
    case partition
  }

  /// The pass's settings.
  public struct Options: Sendable {
    /// Routed experts per MoE layer.
    public var experts: Int = 8
    /// Experts per token, written into the metadata for the engine.
    public var topK: Int = 2
    /// Copies or partition.
    public var method: Method = .copies
    /// How a partition is chosen.
    public var partition: MoEPartitionStrategy = .random
    /// Hidden units given to an always-on shared expert (partition only; the most important by weight product).
    public var sharedHidden: Int = 0
    /// The router initialisation.
    public var router: MoERouterInit = .normal(0.02)
    /// The gate convention written into the metadata.
    public var gate: MoEGateConvention = .softmaxTopKRenormalized
    /// The MoE blocks.
    public var layers: MoELayerSelection = .all
    /// The output layout (`generic` or `jetpack`; the dual-path layout is produced by recycling).
    public var layout: MoELayout = .generic
    /// The seed of every random choice.
    public var seed: UInt64 = 0
    /// Co-activation graphs per block (`h × h`), for the `coactivation` partition; data-free proxy otherwise.
    public var coactivation: [Int: [Double]] = [:]

    /// Creates the default options (8 copies, top-2 renormalised, every block, generic layout).
    public init() {}
  }

  /// Converts the selected blocks and returns the MoE table and its manifest.
  ///
  /// Non-MLP tensors are the source's `Tensor` values (byte-identical); expert tensors are byte slices of the
  /// dense ones in the source dtype; the router is written in the `fc1` dtype.
  ///
  /// - Throws: `invalidModel` for a non-ViT or an already-MoE input; `invalidArgument` for a bad configuration
  ///   (more experts than hidden units, k out of range, a layer out of range, an unsupported layout).
  public static func upcycle(_ table: TensorTable, options: Options) throws(GraftError) -> (TensorTable, MoEManifest) {
    let model = try MoEDenseModel(table)
    let layers = try options.layers.resolve(depth: model.depth)
    let e = options.experts
    guard e >= 1 else { throw GraftError(.invalidArgument, "experts must be at least 1 (got \(e))") }
    try MoEAssembly.checkTopK(options.topK, experts: e)
    guard options.layout != .dualPath else {
      throw GraftError(
        .invalidArgument,
        "the dual-path layout holds recycled core/universal experts: build it with MoERecycle")
    }
    guard options.sharedHidden >= 0 else {
      throw GraftError(.invalidArgument, "the shared expert's hidden size must not be negative")
    }
    if options.method == .copies && options.sharedHidden > 0 {
      throw GraftError(.invalidArgument, "a shared expert needs the partition method (a shared copy would give 2f)")
    }
    if options.layout == .jetpack && options.sharedHidden > 0 {
      throw GraftError(.invalidArgument, "the Jetpack layout has no shared expert")
    }
    var parameters = JSONObject()
    parameters["method"] = .string(options.method.rawValue)
    if options.method == .partition { parameters["partition"] = .string(options.partition.rawValue) }
    parameters["experts"] = .integer(e)
    parameters["top_k"] = .integer(options.topK)
    parameters["gate"] = .string(options.gate.rawValue)
    parameters["router"] = .string(options.router.description)
    parameters["shared_hidden"] = .integer(options.sharedHidden)
    parameters["layers"] = .array(layers.map(JSONValue.integer))
    parameters["layer_selection"] = .string(options.layers.description)
    parameters["layout"] = .string(options.layout.rawValue)
    parameters["seed"] = .int(Int64(bitPattern: options.seed))
    return try MoEAssembly.build(
      table, model: model, layers: layers, operation: "moe.upcycle", parameters: parameters, layout: options.layout,
      statisticsSource: "data-free (weight product)"
    ) { b throws(GraftError) in
      let block = model.blocks[b]
      let h = block.hidden
      let d = model.width
      if options.method == .partition && e > h - options.sharedHidden {
        throw GraftError(
          .invalidArgument,
          "block \(b) has \(h) hidden units: \(e) experts\(options.sharedHidden > 0 ? " plus a shared expert of \(options.sharedHidden)" : "") "
            + "leave an expert empty", tensor: block.prefix + "fc1.weight")
      }
      let dense = try MoEAssembly.DenseMLP(table, block: block)
      let w1 = try MoEValues.floats(dense.w1, name: block.prefix + "fc1.weight")
      let w2 = try MoEValues.floats(dense.w2, name: block.prefix + "fc2.weight")
      let scores = MoEDataFree.weightProduct(w1: w1, w2: w2, hidden: h, width: d)
      var sets: [[Int]]
      var shared: [Int]?
      switch options.method {
      case .copies:
        sets = Array(repeating: Array(0..<h), count: e)
      case .partition:
        var units = Array(0..<h)
        if options.sharedHidden > 0 {
          shared = MoEIndexSets.topK(scores, options.sharedHidden)
          let s = Set(shared ?? [])
          units = units.filter { !s.contains($0) }
        }
        let sizes = MoEPartitioner.balancedSizes(units.count, parts: e)
        if options.layout == .jetpack && Set(sizes).count > 1 {
          throw GraftError(
            .invalidArgument,
            "the Jetpack layout stacks experts of one size: \(units.count) hidden units do not split into \(e) equal parts",
            tensor: block.prefix + "fc1.weight")
        }
        var graph = options.coactivation[b]
        if options.partition == .coactivation && graph == nil {
          let gamma = try table[block.prefix.dropLastMLP + "norm2.weight"].map { t throws(GraftError) in
            try MoEValues.floats(t, name: block.prefix.dropLastMLP + "norm2.weight")
          }
          graph = MoEDataFree.coactivationProxy(w1: w1, gamma: gamma, hidden: h, width: d)
        }
        sets = MoEIndexSets.partition(
          strategy: options.partition, units: units, sizes: sizes, w1: w1, width: d, scores: scores, graph: graph,
          hidden: h, seed: options.seed, layer: b)
      }
      var random = SplitMix64(seed: options.seed, layer: b, stream: 0x524F_5554)
      let routerValues = options.router.make(experts: e, width: d, sets: sets, w1: w1, random: &random)
      var tensors: [(String, Tensor)] = []
      switch options.layout {
      case .generic:
        tensors.append(("router.weight", try MoEValues.tensor(routerValues, shape: [e, d], dtype: block.dtype)))
        for (i, set) in sets.enumerated() {
          // Copies take every unit: their tensors are views of the dense ones (``MoESlices``), b2 included.
          let expert = try MoERecycle.jetpackTensors(dense, sets: [set], group: "experts.\(i).", stacked: false)
          tensors += options.method == .copies ? expert : expert.filter { !$0.0.hasSuffix("fc2.bias") }
        }
        if let shared {
          let expert = try MoERecycle.jetpackTensors(dense, sets: [shared], group: "shared_expert.", stacked: false)
          tensors += expert.filter { !$0.0.hasSuffix("fc2.bias") }
        }
        if options.method == .partition, let b2 = dense.b2 { tensors.append(("output_bias", b2)) }
      case .jetpack:
        let key = MoERecycle.ratioKey(Double(sets[0].count) / Double(h))
        tensors += try MoERecycle.jetpackTensors(dense, sets: sets, group: "experts.\(key).")
      case .dualPath:
        break
      }
      return (
        tensors,
        MoEManifest.Layer(
          block: b, hidden: h, expertUnits: sets, sharedUnits: shared, expertChannels: nil, groups: nil, scores: scores)
      )
    }
  }
}

extension String {
  /// `blocks.3.mlp.` → `blocks.3.`.
  var dropLastMLP: String { hasSuffix("mlp.") ? String(dropLast(4)) : self }
}
