public import GraftCore

/// Dense Llama-family decoder → Mixtral / Qwen2-MoE / Qwen3-MoE, on tables: the dense MLPs of the chosen layers
/// become experts and a router, everything else is the dense tensors unchanged.
///
/// Expert tensors are lazy: copies forward the dense tensor's bytes, partitions and re-initialised rows are produced
/// row by row when the writer asks, so the output streams whatever its size. No IO: the caller reads the folder,
/// passes `config.json` as JSON and writes the returned table and configuration.
///
///     var options = LLMUpcycle.Options()
///     options.target = .mixtral
///     options.experts = 8
///     let (table, config, plan) = try LLMUpcycle.upcycle(dense.table, config: dense.config, options: options)
public enum LLMUpcycle {
  /// The pass's settings.
  public struct Options: Sendable {
    /// The output architecture.
    public var target: LLMMoETarget = .mixtral
    /// The expert key layout.
    public var layout: LLMMoELayout = .v4
    /// Routed experts per sparse layer.
    public var experts = 8
    /// Experts per token (`num_experts_per_tok`).
    public var topK = 2
    /// How experts are made from the dense MLP.
    public var construction: LLMExpertConstruction = .copies
    /// Drop-Upcycling: the fraction r of each expert's intermediate units whose gate/up rows and down columns are
    /// re-initialised from N(μ, σ²) of the replaced values (0: none).
    public var dropRatio = 0.0
    /// The standard deviation of Gaussian noise added to every expert weight (0: none; mergekit `noise_scale`).
    public var noise = 0.0
    /// Qwen2-MoE: what the shared expert starts as.
    public var sharedExpert: LLMSharedExpert = .zero
    /// The router initialisation (`centroid` uses each expert's normalised gate rows).
    public var router: MoERouterInit = .normal(0.02)
    /// Router rows `[E × H]` per layer computed by the caller (calibration); they replace ``router`` for those
    /// layers.
    public var routerRows: [Int: [Float]] = [:]
    /// How ``routerRows`` were made, for the manifest.
    public var routerRowsSource: String?
    /// `norm_topk_prob` for Qwen targets (`nil`: true, the setting that makes copies exact); Mixtral always
    /// renormalises and refuses `false`.
    public var normalizeTopK: Bool?
    /// `router_aux_loss_coef` written into config.json (training only).
    public var routerAuxLossCoefficient = 0.001
    /// The layers whose MLP becomes sparse (Mixtral: all).
    public var layers: MoELayerSelection = .all
    /// The seed of every random choice.
    public var seed: UInt64 = 0

    /// Creates the default options: Mixtral, v4 layout, 8 copies, top-2, router N(0, 0.02²).
    public init() {}
  }

  /// What was done to one sparse layer: enough for the checks to recompute every expert from the dense MLP.
  public struct LayerPlan: Sendable {
    /// The decoder layer.
    public var layer: Int
    /// For each expert, the dense intermediate units it holds, ascending (copies: all of them).
    public var expertUnits: [[Int]]
    /// The factor applied to each expert's down projection (E for a partition, 1 for copies).
    public var downScale: Float
    /// For each expert, the positions (within the expert) re-initialised by Drop-Upcycling, ascending.
    public var dropped: [[Int]]
  }

  /// The construction as data: the manifest of the run and the checks' input.
  public struct Plan: Sendable {
    /// The target.
    public var target: LLMMoETarget
    /// The key layout.
    public var layout: LLMMoELayout
    /// Routed experts.
    public var experts: Int
    /// Experts per token.
    public var topK: Int
    /// `norm_topk_prob` as written (Mixtral: true).
    public var normalizeTopK: Bool
    /// The construction.
    public var construction: LLMExpertConstruction
    /// Drop-Upcycling ratio.
    public var dropRatio: Double
    /// Added noise (standard deviation).
    public var noise: Double
    /// Qwen2-MoE shared expert, `nil` for the other targets.
    public var sharedExpert: LLMSharedExpert?
    /// The dense intermediate size.
    public var denseWidth: Int
    /// The expert intermediate size.
    public var expertWidth: Int
    /// The hidden size.
    public var hidden: Int
    /// The decoder layers.
    public var layerCount: Int
    /// The sparse layers, ascending.
    public var layers: [LayerPlan]
    /// Tensors that the target needs and the dense model lacks, written as zeros (Qwen2-MoE q/k/v biases).
    public var synthesizedZeros: [String]
    /// Facts worth printing: llama.cpp compatibility, inferred values.
    public var notes: [String]
    /// Every option, for the manifest.
    public var parameters: JSONObject

    /// Whether the dense MLP is reproduced by the written model (copies, no drop, no noise, routed part
    /// renormalised, no live shared expert), for every k.
    public var copiesExact: Bool {
      construction == .copies && dropRatio == 0 && noise == 0 && normalizeTopK && sharedExpert != .dense
    }
  }

  /// The dense names of layer `i`'s MLP (`model.layers.i.mlp.{gate,up,down}_proj.weight`).
  public static func denseNames(_ i: Int) -> (gate: String, up: String, down: String) {
    let p = "model.layers.\(i).mlp."
    return (p + "gate_proj.weight", p + "up_proj.weight", p + "down_proj.weight")
  }

  /// Converts the dense table and configuration.
  ///
  /// - Throws: `invalidModel` naming config.json's key or the tensor when the dense model is already MoE, its
  ///   family cannot become the target exactly, or a tensor is missing or misshapen; `invalidArgument` naming the
  ///   option for a bad setting (`topK` above `experts`, a partition that does not divide, a layer subset for
  ///   Mixtral).
  public static func upcycle(
    _ table: TensorTable, config: JSONObject, options: Options
  ) throws(GraftError) -> (table: TensorTable, config: JSONObject, plan: Plan) {
    let dense = try LLMDenseShape(config: config, table: table, target: options.target)
    let o = options
    try validate(o, dense: dense)
    let sparse = try o.layers.resolve(depth: dense.layers)
    if o.target == .mixtral && sparse.count != dense.layers {
      throw GraftError(
        .invalidArgument,
        "Mixtral has no dense layers (MixtralConfig reads no mlp_only_layers): choose every layer, or a Qwen target"
      ).resolved(by: "layers")
    }
    var width = dense.intermediate
    if case .partition = o.construction {
      guard dense.intermediate % o.experts == 0 else {
        throw GraftError(
          .invalidArgument,
          "a partition needs equal experts: intermediate_size \(dense.intermediate) is not a multiple of "
            + "\(o.experts) experts", tensor: denseNames(sparse.first ?? 0).gate
        ).resolved(by: "experts")
      }
      width = dense.intermediate / o.experts
    }
    var plan = Plan(
      target: o.target, layout: o.layout, experts: o.experts, topK: o.topK,
      normalizeTopK: o.target == .mixtral ? true : (o.normalizeTopK ?? true), construction: o.construction,
      dropRatio: o.dropRatio, noise: o.noise, sharedExpert: o.target == .qwen2MoE ? o.sharedExpert : nil,
      denseWidth: dense.intermediate, expertWidth: width, hidden: dense.hidden, layerCount: dense.layers, layers: [],
      synthesizedZeros: [], notes: dense.notes, parameters: parameters(o))
    var replacements: [Int: [(String, Tensor)]] = [:]
    for i in sparse {
      let (layerPlan, tensors) = try LLMExpertBuilder(table: table, layer: i, options: o, dense: dense, width: width)
        .build()
      plan.layers.append(layerPlan)
      replacements[i] = tensors
    }
    var extra: [String: [(String, Tensor)]] = [:]
    if o.target == .qwen2MoE {
      for i in 0..<dense.layers {
        for p in ["q", "k", "v"] {
          let weight = "model.layers.\(i).self_attn.\(p)_proj.weight"
          let bias = "model.layers.\(i).self_attn.\(p)_proj.bias"
          guard !table.contains(bias), let w = table[weight] else { continue }
          extra[weight, default: []].append((bias, LLMExpertBuilder.zeros(dtype: w.dtype, shape: [w.shape[0]])))
          plan.synthesizedZeros.append(bias)
        }
      }
      if !plan.synthesizedZeros.isEmpty {
        plan.notes.append(
          "Qwen2-MoE has q/k/v biases (qkv_bias): \(plan.synthesizedZeros.count) zero biases were added, which "
            + "changes nothing")
      }
    }
    let out = try assemble(table, replacements: replacements, extra: extra)
    let (configOut, configNotes) = targetConfig(config, dense: dense, plan: plan, sparse: sparse, options: o)
    plan.notes += configNotes + compatibilityNotes(plan: plan, sparse: sparse)
    return (out, configOut, plan)
  }

  static func validate(_ o: Options, dense: LLMDenseShape) throws(GraftError) {
    guard o.experts >= 1 else {
      throw GraftError(.invalidArgument, "experts must be at least 1 (got \(o.experts))").resolved(by: "experts")
    }
    guard o.topK >= 1, o.topK <= o.experts else {
      throw GraftError(
        .invalidArgument, "top-k must be in 1...\(o.experts) (the number of experts); got \(o.topK)"
      ).resolved(by: "topK")
    }
    guard o.dropRatio >= 0, o.dropRatio <= 1, o.dropRatio.isFinite else {
      throw GraftError(.invalidArgument, "the drop ratio is \(o.dropRatio); expected 0…1").resolved(by: "dropRatio")
    }
    guard o.noise >= 0, o.noise.isFinite else {
      throw GraftError(.invalidArgument, "the noise is \(o.noise); expected ≥ 0").resolved(by: "noise")
    }
    if o.target == .mixtral && o.normalizeTopK == false {
      throw GraftError(
        .invalidArgument, "Mixtral always renormalises the top-k weights; norm_topk_prob false needs a Qwen target"
      ).resolved(by: "normTopkProb")
    }
    if case .partition(let s) = o.construction, s != .random && s != .clustering {
      throw GraftError(
        .unsupported,
        "partition strategy '\(s.rawValue)' is not implemented for LLMs (random and clustering are)"
      ).resolved(by: "partition")
    }
    for (layer, rows) in o.routerRows where rows.count != o.experts * dense.hidden {
      throw GraftError(
        .invalidArgument,
        "router rows for layer \(layer) hold \(rows.count) values; expected \(o.experts) × \(dense.hidden)")
    }
  }

  static func parameters(_ o: Options) -> JSONObject {
    var p = JSONObject()
    p["target"] = .string(o.target.rawValue)
    p["layout"] = .string(o.layout.rawValue)
    p["experts"] = .integer(o.experts)
    p["top_k"] = .integer(o.topK)
    switch o.construction {
    case .copies: p["construction"] = "copies"
    case .partition(let s): p["construction"] = .string("partition:" + s.rawValue)
    }
    p["drop_ratio"] = .double(o.dropRatio)
    p["noise"] = .double(o.noise)
    if o.target == .qwen2MoE { p["shared_expert"] = .string(o.sharedExpert.rawValue) }
    p["router"] = .string(o.routerRowsSource ?? o.router.description)
    p["layers"] = .string(o.layers.description)
    p["seed"] = .int(Int64(bitPattern: o.seed))
    return p
  }

  /// The output table: dense entries in order, each converted MLP's new tensors where its gate projection was,
  /// and the synthesised tensors after the weight they belong to.
  static func assemble(
    _ table: TensorTable, replacements: [Int: [(String, Tensor)]], extra: [String: [(String, Tensor)]]
  ) throws(GraftError) -> TensorTable {
    var out = TensorTable()
    out.metadata = table.metadata
    out.lineage = table.lineage
    var replaced: [String: Int] = [:]
    for i in replacements.keys {
      let n = denseNames(i)
      for name in [n.gate, n.up, n.down] { replaced[name] = i }
    }
    var pendingAliases: [(String, String)] = []
    for entry in table.entries {
      if let i = replaced[entry.name] {
        if entry.name == denseNames(i).gate { for (n, t) in replacements[i] ?? [] { try out.append(n, t) } }
        continue
      }
      if let target = entry.aliasOf {
        pendingAliases.append((entry.name, target))
        continue
      }
      try out.append(entry.name, entry.tensor)
      for (n, t) in extra[entry.name] ?? [] { try out.append(n, t) }
    }
    for (name, target) in pendingAliases where out.contains(target) { try out.appendAlias(name, of: target) }
    return out
  }

  /// What llama.cpp would do differently with this output (transformers loads it either way).
  static func compatibilityNotes(plan: Plan, sparse: [Int]) -> [String] {
    var notes: [String] = []
    if plan.target != .mixtral && sparse.count != plan.layerCount {
      notes.append(
        "llama.cpp's \(plan.target.modelType.replacingUnderscores) architecture needs every layer sparse: this "
          + "output loads in transformers, not in llama.cpp's converter")
    }
    if plan.target == .qwen2MoE && plan.normalizeTopK {
      notes.append("llama.cpp's qwen2moe never renormalises the top-k weights (it ignores norm_topk_prob)")
    }
    if plan.target == .qwen3MoE && !plan.normalizeTopK {
      notes.append("llama.cpp's qwen3moe always renormalises the top-k weights (it ignores norm_topk_prob false)")
    }
    if plan.layout == .v5Fused {
      notes.append("the v5 fused layout loads in transformers ≥ 5 only; llama.cpp's Mixtral converter reads v4 keys")
    }
    return notes
  }
}

extension String {
  /// `qwen2_moe` → `qwen2moe` (llama.cpp's architecture names).
  var replacingUnderscores: String { split(separator: "_").joined() }
}
