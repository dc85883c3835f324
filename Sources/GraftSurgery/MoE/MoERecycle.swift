public import GraftCore

/// MoE-Jetpack checkpoint recycling: experts built from (possibly overlapping) subsets of a dense MLP's hidden units,
/// in the same width, or sampled out of a wider teacher (hidden units and residual channels).
public enum MoERecycle {
  /// The metadata key holding the MoE configuration (shared with the engine's `MoEConfiguration`).
  public static let metadataKey = "graft.moe"

  /// The pass's settings.
  public struct Options: Sendable {
    /// Routed experts per MoE layer (generic and Jetpack layouts).
    public var experts: Int = 8
    /// The expert hidden size as a fraction of the dense (or teacher) hidden size; `nil` means 0.25 in same-width
    /// mode and `d_student / d_teacher` in teacher-width mode.
    public var ratio: Double?
    /// How each expert's hidden units are chosen.
    public var strategy: MoERecycleStrategy = .random
    /// Importance strategies: take the global top-k (the same set for every expert) instead of sampling.
    public var globalTopK = false
    /// Co-activation strategy: the number of graph communities (Jetpack: 32).
    public var communities = 32
    /// The MoE blocks.
    public var layers: MoELayerSelection = .lastHalf
    /// The output layout.
    public var layout: MoELayout = .jetpack
    /// Dual-path: core experts (full expert hidden size).
    public var coreExperts = 4
    /// Dual-path: universal experts (`univFactor` of the core hidden size).
    public var universalExperts = 8
    /// Dual-path: the universal experts' size relative to the core experts (Jetpack: 1/4).
    public var universalFactor = 0.25
    /// Generic layout: the router initialisation.
    public var router: MoERouterInit = .normal(0.02)
    /// Generic layout: experts per token.
    public var topK = 2
    /// Generic layout: the gate convention.
    public var gate: MoEGateConvention = .softmaxTopKRenormalized
    /// The seed of every random choice (Jetpack: 3407).
    public var seed: UInt64 = 3407
    /// Activation statistics per block of the model the experts are sampled from.
    public var statistics: [Int: MoELayerStatistics] = [:]
    /// Where ``statistics`` came from, for the manifest.
    public var statisticsSource = "none"

    /// Creates the default options (same width, 8 experts of 1/4, random, last half, Jetpack layout).
    public init() {}
  }

  /// Recycles `dense` (same width) or samples experts out of `teacher` into `dense`'s architecture (teacher width).
  ///
  /// - Throws: `invalidModel` for non-ViT or already-MoE inputs and mismatched teachers; `invalidArgument` for
  ///   a ratio outside (0, 1], more experts than hidden units, a layer out of range, or missing statistics.
  public static func recycle(
    _ dense: TensorTable, teacher: TensorTable? = nil, options: Options
  ) throws(GraftError)
    -> (TensorTable, MoEManifest)
  {
    let model = try MoEDenseModel(dense)
    let teacherModel = try teacher.map { t throws(GraftError) in try MoEDenseModel(t) }
    let source = teacher ?? dense
    let sourceModel = teacherModel ?? model
    let layers = try options.layers.resolve(depth: model.depth)
    if let teacherModel {
      guard teacherModel.depth >= model.depth else {
        throw GraftError(
          .invalidModel, "the teacher has \(teacherModel.depth) blocks; the student has \(model.depth)",
          file: "teacher")
      }
      guard teacherModel.width >= model.width else {
        throw GraftError(
          .invalidModel, "the teacher is narrower (\(teacherModel.width)) than the student (\(model.width))",
          file: "teacher")
      }
    }
    let ratio = options.ratio ?? (teacherModel.map { Double(model.width) / Double($0.width) } ?? 0.25)
    guard ratio > 0, ratio <= 1 else {
      throw GraftError(.invalidArgument, "the ratio of hidden units per expert must be in (0, 1]; got \(ratio)")
    }
    let expertCount = options.layout == .dualPath ? options.coreExperts + options.universalExperts : options.experts
    guard expertCount >= 1, options.coreExperts >= 0, options.universalExperts >= 0 else {
      throw GraftError(.invalidArgument, "need at least one expert (got \(expertCount))")
    }
    if options.layout == .dualPath {
      guard options.coreExperts >= 1, options.universalFactor > 0, options.universalFactor <= 1 else {
        throw GraftError(
          .invalidArgument, "the dual-path layout needs at least 1 core expert and a universal factor in (0, 1]")
      }
    }
    if options.layout == .generic { try MoEAssembly.checkTopK(options.topK, experts: expertCount) }
    var parameters = JSONObject()
    parameters["mode"] = .string(teacher == nil ? "same-width" : "teacher-width")
    parameters["strategy"] = .string(options.strategy.rawValue)
    if options.globalTopK { parameters["global_top_k"] = .bool(true) }
    if options.strategy == .coactivation { parameters["communities"] = .integer(options.communities) }
    parameters["experts"] = .integer(expertCount)
    parameters["ratio"] = .double(ratio)
    parameters["layers"] = .array(layers.map(JSONValue.integer))
    parameters["layer_selection"] = .string(options.layers.description)
    parameters["layout"] = .string(options.layout.rawValue)
    if options.layout == .dualPath {
      parameters["core_experts"] = .integer(options.coreExperts)
      parameters["univ_experts"] = .integer(options.universalExperts)
      parameters["univ_factor"] = .double(options.universalFactor)
    }
    if options.layout == .generic {
      parameters["top_k"] = .integer(options.topK)
      parameters["gate"] = .string(options.gate.rawValue)
      parameters["router"] = .string(options.router.description)
    }
    parameters["method"] = .string("recycle")
    parameters["seed"] = .int(Int64(bitPattern: options.seed))
    return try MoEAssembly.build(
      dense, model: model, layers: layers, operation: "moe.recycle", parameters: parameters, layout: options.layout,
      statisticsSource: options.statisticsSource
    ) { b throws(GraftError) in
      let block = sourceModel.blocks[b]
      let h = block.hidden
      let dT = sourceModel.width
      let dS = model.width
      let k = Int(Double(h) * ratio)
      guard k >= 1 else {
        throw GraftError(
          .invalidArgument, "a ratio of \(ratio) of \(h) hidden units leaves experts empty",
          tensor: block.prefix + "fc1.weight")
      }
      guard expertCount <= h else {
        throw GraftError(
          .invalidArgument, "\(expertCount) experts but block \(b) has only \(h) hidden units",
          tensor: block.prefix + "fc1.weight")
      }
      let mlp = try MoEAssembly.DenseMLP(source, block: block)
      // Decoding W1 costs as much as slicing it; only the strategies and inits that read values pay for it.
      let needsValues =
        [.weightProduct, .expectedActivation, .coactivation].contains(options.strategy) || teacherModel != nil
        || (options.layout == .generic && options.router == .centroid)
      let w1 = needsValues ? try MoEValues.floats(mlp.w1, name: block.prefix + "fc1.weight") : []
      let stats = options.statistics[b]
      if options.strategy.needsStatistics && stats == nil {
        throw GraftError(
          .invalidArgument,
          "strategy \(options.strategy.rawValue) needs activation statistics for block \(b) (calibration or synthetic inputs)"
        )
      }
      let scores = try Self.scores(options.strategy, stats: stats, source: source, block: block, w1: w1, mlp: mlp)
      var graph: [Double]?
      if options.strategy == .coactivation {
        if let c = stats?.coactivation {
          graph = c
          for i in 0..<h { graph?[i * h + i] = 0 }
        } else {
          let gamma = try source[block.prefix.dropLastMLP + "norm2.weight"].map { t throws(GraftError) in
            try MoEValues.floats(t, name: block.prefix.dropLastMLP + "norm2.weight")
          }
          graph = MoEDataFree.coactivationProxy(w1: w1, gamma: gamma, hidden: h, width: dT)
        }
      }
      var sets = MoEIndexSets.recycle(
        strategy: options.strategy, n: h, k: k, experts: expertCount, scores: scores, graph: graph,
        globalTopK: options.globalTopK, communities: options.communities, seed: options.seed, layer: b,
        stream: 0x4849_4444)
      var channels: [[Int]]?
      if teacherModel != nil {
        let channelScores: [Double]
        if let stats, options.strategy.needsStatistics {
          channelScores = options.strategy == .importanceL1 ? stats.channelL1 : stats.channelL2
        } else {
          // Data-free channel importance: the norm of each residual channel's fc1 column.
          channelScores = (0..<dT).map { c in
            var s = 0.0
            for i in 0..<h { s += Double(w1[i * dT + c]) * Double(w1[i * dT + c]) }
            return s.squareRoot()
          }
        }
        let channelStrategy: MoERecycleStrategy =
          options.strategy == .coactivation ? .random : options.strategy
        channels = MoEIndexSets.recycle(
          strategy: channelStrategy, n: dT, k: dS, experts: expertCount, scores: channelScores, graph: nil,
          globalTopK: options.globalTopK, communities: 1, seed: options.seed, layer: b, stream: 0x4348_414E)
      }
      var groups: (core: Int, universal: Int)?
      var tensors: [(String, Tensor)] = []
      switch options.layout {
      case .jetpack:
        tensors = try jetpackTensors(mlp, sets: sets, channels: channels, group: "experts.\(ratioKey(ratio)).")
      case .generic:
        var random = SplitMix64(seed: options.seed, layer: b, stream: 0x524F_5554)
        let router = options.router.make(experts: expertCount, width: dS, sets: sets, w1: w1, random: &random)
        tensors.append(("router.weight", try MoEValues.tensor(router, shape: [expertCount, dS], dtype: block.dtype)))
        // The generic layout keeps one Linear per expert.
        for e in 0..<expertCount {
          tensors += try jetpackTensors(
            mlp, sets: [sets[e]], channels: channels.map { [$0[e]] }, group: "experts.\(e).", stacked: false)
        }
      case .dualPath:
        let core = options.coreExperts
        let universal = options.universalExperts
        groups = (core, universal)
        let kU = max(1, Int(Double(k) * options.universalFactor))
        let inner = MoEIndexSets.linspace(k, kU)
        for u in core..<(core + universal) { sets[u] = inner.map { sets[u][$0] } }
        var random = SplitMix64(seed: options.seed, layer: b, stream: 0x5048_4921)
        let phi = MoERouterInit.orthogonal(rows: core + universal, columns: dS, random: &random)
        tensors.append(("phi", try MoEValues.tensor(phi, shape: [core + universal, 1, dS], dtype: block.dtype)))
        tensors.append(("scales.0", try MoEValues.tensor([0.5], shape: [], dtype: block.dtype)))
        tensors.append(("scales.1", try MoEValues.tensor([0.5], shape: [], dtype: block.dtype)))
        tensors.append(
          ("slot_norm.weight", try MoEValues.tensor([Float](repeating: 1, count: dS), shape: [dS], dtype: block.dtype)))
        tensors.append(
          ("slot_norm.bias", try MoEValues.tensor([Float](repeating: 0, count: dS), shape: [dS], dtype: block.dtype)))
        tensors += renamed(
          try jetpackTensors(
            mlp, sets: Array(sets[..<core]), channels: channels.map { Array($0[..<core]) }, group: "core_experts."),
          fc: "vit_fc")
        if universal > 0 {
          tensors += renamed(
            try jetpackTensors(
              mlp, sets: Array(sets[core...]), channels: channels.map { Array($0[core...]) }, group: "univ_experts."),
            fc: "vit_fc")
        }
      }
      return (
        tensors,
        MoEManifest.Layer(
          block: b, hidden: h, expertUnits: sets, sharedUnits: nil, expertChannels: channels, groups: groups,
          scores: scores)
      )
    }
  }

  /// Jetpack's ratio key: `f'{r:.2f}'.replace('.', 'p')` (0.25 → `0p25`).
  public static func ratioKey(_ r: Double) -> String {
    let hundredths = Int((r * 100).rounded(.toNearestOrEven))
    let frac = hundredths % 100
    return "\(hundredths / 100)p\(frac < 10 ? "0" : "")\(frac)"
  }

  /// The configuration written into the output metadata (the engine reads `experts`, `top_k`, `gate`).
  static func configuration(_ parameters: JSONObject, layout: MoELayout) -> JSONObject {
    var o = JSONObject()
    o["format"] = "graft-moe/1"
    o["layout"] = .string(layout.rawValue)
    for key in [
      "method", "experts", "top_k", "gate", "layers", "core_experts", "univ_experts", "univ_factor", "ratio",
    ] {
      if let v = parameters[key] { o[key] = v }
    }
    if layout != .generic {
      o["top_k"] = nil
      o["gate"] = .string(layout == .dualPath ? "soft" : "none")
    }
    return o
  }

  /// Stacked `fc1.weight [E,k,d]`, `fc1.bias [E,k]`, `fc2.weight [E,d,k]`, `fc2.bias [E,d]` (b2 in every expert),
  /// or one expert's unstacked tensors when `stacked` is false; teacher width slices the residual `channels` too.
  static func jetpackTensors(
    _ mlp: MoEAssembly.DenseMLP, sets: [[Int]], channels: [[Int]]? = nil, group: String, stacked: Bool = true
  ) throws(GraftError) -> [(String, Tensor)] {
    var out: [(String, Tensor)] = []
    out.append((group + "fc1.weight", try mlp.fc1(sets, channels: channels, stacked: stacked)))
    if let t = try mlp.bias1(sets, stacked: stacked) { out.append((group + "fc1.bias", t)) }
    out.append((group + "fc2.weight", try mlp.fc2(sets, channels: channels, stacked: stacked)))
    if let t = try mlp.bias2(sets.count, channels: channels, stacked: stacked) { out.append((group + "fc2.bias", t)) }
    return out
  }

  private static func renamed(_ tensors: [(String, Tensor)], fc: String) -> [(String, Tensor)] {
    tensors.map { (name, t) in
      (name.replacing(".fc1.", with: ".\(fc)1.").replacing(".fc2.", with: ".\(fc)2."), t)
    }
  }

  /// The per-unit score of a strategy, or `nil` for strategies that use none.
  static func scores(
    _ strategy: MoERecycleStrategy, stats: MoELayerStatistics?, source: TensorTable, block: MoEDenseModel.Block,
    w1: [Float], mlp: MoEAssembly.DenseMLP
  ) throws(GraftError) -> [Double]? {
    let h = block.hidden
    let d = mlp.width
    switch strategy {
    case .importanceL1: return stats?.l1
    case .importanceL2: return stats?.l2
    case .importanceFrequency: return stats?.frequency
    case .weightProduct:
      let w2 = try MoEValues.floats(mlp.w2, name: block.prefix + "fc2.weight")
      return MoEDataFree.weightProduct(w1: w1, w2: w2, hidden: h, width: d)
    case .expectedActivation:
      let norm = block.prefix.dropLastMLP + "norm2."
      let gamma = try source[norm + "weight"].map { t throws(GraftError) in
        try MoEValues.floats(t, name: norm + "weight")
      }
      let beta = try source[norm + "bias"].map { t throws(GraftError) in try MoEValues.floats(t, name: norm + "bias") }
      let b1 = try mlp.b1.map { t throws(GraftError) in try MoEValues.floats(t, name: block.prefix + "fc1.bias") }
      return MoEDataFree.expectedActivation(w1: w1, b1: b1, gamma: gamma, beta: beta, hidden: h, width: d)
    case .random, .uniform, .coactivation:
      return stats?.l2
    }
  }
}
