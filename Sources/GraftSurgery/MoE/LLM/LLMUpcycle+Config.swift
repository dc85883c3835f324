import GraftCore

/// The dense model's sizes read from config.json and checked against its tensors, and the refusals of sources the
/// target cannot hold exactly.
struct LLMDenseShape {
  var modelType: String
  var layers: Int
  var hidden: Int
  var intermediate: Int
  /// Qwen2/Qwen3 sources with `use_sliding_window`: which layers slide (the dense family's rule).
  var slidingLayers: [Bool]?
  var notes: [String] = []

  static let mixtureTypes: Set<String> = [
    "mixtral", "qwen2_moe", "qwen3_moe", "deepseek_v2", "deepseek_v3", "olmoe", "dbrx", "jamba", "granitemoe",
    "phimoe", "minimax", "gpt_oss",
  ]

  init(config: JSONObject, table: TensorTable, target: LLMMoETarget) throws(GraftError) {
    guard let type = config["model_type"]?.stringValue else {
      throw GraftError(.invalidModel, "config.json has no model_type (a string such as \"llama\")")
    }
    modelType = type
    if Self.mixtureTypes.contains(type) {
      throw GraftError(
        .invalidModel,
        "config.json model_type is '\(type)': the model is already a mixture of experts; upcycling needs a dense model")
    }
    for key in ["num_local_experts", "num_experts", "n_routed_experts"] {
      if let n = config[key]?.intValue, n > 0 {
        throw GraftError(
          .invalidModel, "config.json \(key) is \(n): the model is already a mixture of experts")
      }
    }
    if let moe = table.names.first(where: { $0.contains(".experts.") || $0.contains("block_sparse_moe") }) {
      throw GraftError(
        .invalidModel, "the tensors already hold experts; upcycling needs a dense model", tensor: moe)
    }
    guard target.denseSources.contains(type) else {
      throw GraftError(
        .invalidModel,
        "config.json model_type '\(type)' cannot become \(target.modelType) exactly (it takes "
          + target.denseSources.joined(separator: ", ") + ")"
      ).resolved(by: "to")
    }
    layers = try Self.positive(config, "num_hidden_layers")
    hidden = try Self.positive(config, "hidden_size")
    intermediate = try Self.positive(config, "intermediate_size")
    try checkTensors(table, target: target)
    try checkSlidingWindow(config, target: target)
  }

  static func positive(_ config: JSONObject, _ key: String) throws(GraftError) -> Int {
    guard let v = config[key]?.intValue, v > 0 else {
      throw GraftError(
        .invalidModel,
        "config.json \(key) is \(config[key].map { $0.serialized() } ?? "missing"); expected a positive integer")
    }
    return v
  }

  /// Every MLP matrix present with the configured shape, one floating-point dtype per layer, and no tensor the
  /// target has no place for.
  func checkTensors(_ table: TensorTable, target: LLMMoETarget) throws(GraftError) {
    for name in table.names where name.hasSuffix(".bias") {
      if name.contains(".mlp.") {
        throw GraftError(
          .invalidModel, "the dense MLP has biases (mlp_bias); \(target.architecture) experts have none", tensor: name)
      }
      if target == .mixtral || name.contains(".o_proj.") {
        throw GraftError(
          .invalidModel,
          "\(target.architecture) has no \(target == .mixtral ? "attention biases" : "output projection bias"); "
            + "this tensor would be dropped", tensor: name)
      }
    }
    for i in 0..<layers {
      let n = LLMUpcycle.denseNames(i)
      let expected = [
        (n.gate, [intermediate, hidden]), (n.up, [intermediate, hidden]), (n.down, [hidden, intermediate]),
      ]
      var dtype: DType?
      for (name, shape) in expected {
        guard let t = table[name] else {
          throw GraftError(.invalidModel, "missing dense MLP tensor (expected \(shape))", tensor: name)
        }
        guard t.shape == shape else {
          throw GraftError(
            .invalidModel,
            "shape \(t.shape); config.json hidden_size and intermediate_size give \(shape)", tensor: name)
        }
        guard t.dtype.isFloatingPoint, t.dtype.byteWidth != nil else {
          throw GraftError(
            .unsupportedDType, "\(t.dtype) is not a floating-point type the experts can hold",
            tensor: name)
        }
        if let dtype, dtype != t.dtype {
          throw GraftError(.invalidModel, "dtype \(t.dtype) differs from the layer's \(dtype)", tensor: name)
        }
        dtype = t.dtype
      }
    }
  }

  /// Qwen2-MoE and Qwen3-MoE apply sliding windows by their own layer rule; a Mistral window would be lost, and
  /// a Qwen2/Qwen3 pattern must be written out (Qwen2-MoE `layer_types`) or be uniform (Qwen3-MoE has one window).
  mutating func checkSlidingWindow(_ config: JSONObject, target: LLMMoETarget) throws(GraftError) {
    guard target != .mixtral else { return }
    if modelType == "qwen2" || modelType == "qwen3", config["use_sliding_window"]?.boolValue == true {
      let window = config["sliding_window"].map { $0 == .null ? nil : $0.intValue } ?? 4096
      let from = config["max_window_layers"]?.intValue ?? 28
      let types = config["layer_types"]?.arrayValue?.map { $0.stringValue == "sliding_attention" }
      let pattern = types ?? (0..<layers).map { window != nil && $0 >= from }
      if target == .qwen3MoE && Set(pattern).count > 1 {
        throw GraftError(
          .invalidModel,
          "config.json use_sliding_window with max_window_layers \(from) slides some layers only; Qwen3MoeConfig "
            + "applies one window to every layer")
      }
      slidingLayers = pattern
      if target == .qwen2MoE && pattern.contains(true) && pattern.contains(false) {
        notes.append(
          "layer_types written for the dense window pattern: transformers 5 honours it; transformers 4's eager "
            + "Qwen2-MoE masks every layer with the window")
      }
      return
    }
    guard modelType == "mistral" || modelType == "llama" else { return }
    if let w = config["sliding_window"], w != .null {
      throw GraftError(
        .invalidModel,
        "config.json sliding_window is \(w.serialized()): \(target.architecture) would not apply it to every layer; "
          + "upcycle into mixtral instead"
      ).resolved(by: "to")
    }
  }
}

extension LLMUpcycle {
  /// The target's config.json: the dense configuration carried over (rope, norms, vocabulary, attention, tied
  /// embeddings, token ids), the keys the target does not define removed, and the MoE keys set.
  static func targetConfig(
    _ config: JSONObject, dense: LLMDenseShape, plan: Plan, sparse: [Int], options o: Options
  ) -> (config: JSONObject, notes: [String]) {
    var c = config
    var notes: [String] = []
    c["model_type"] = .string(o.target.modelType)
    c["architectures"] = [.string(o.target.architecture)]
    c["mlp_bias"] = nil
    c["pretraining_tp"] = nil
    c["tie_word_embeddings"] = .bool(config["tie_word_embeddings"]?.boolValue ?? false)
    c["router_aux_loss_coef"] = .double(o.routerAuxLossCoefficient)
    c["output_router_logits"] = false
    c["num_experts_per_tok"] = .integer(o.topK)
    if makeRoPEExplicit(&c) {
      notes.append("rope_theta written as 10000 (inferred: the dense family's default; config.json did not set it)")
    }
    switch o.target {
    case .mixtral:
      c["attention_bias"] = nil
      c["num_local_experts"] = .integer(o.experts)
      c["intermediate_size"] = .integer(plan.expertWidth)
      c["router_jitter_noise"] = 0.0
      c["sliding_window"] = config["sliding_window"] ?? .null
    case .qwen2MoE, .qwen3MoE:
      c["num_experts"] = .integer(o.experts)
      c["moe_intermediate_size"] = .integer(plan.expertWidth)
      c["intermediate_size"] = .integer(dense.intermediate)
      c["norm_topk_prob"] = .bool(plan.normalizeTopK)
      let (step, denseLayers) = sparseRule(sparse, layers: plan.layerCount)
      c["decoder_sparse_step"] = .integer(step)
      c["mlp_only_layers"] = .array(denseLayers.map(JSONValue.integer))
      c["use_sliding_window"] = .bool(dense.slidingLayers?.contains(true) ?? false)
      if o.target == .qwen2MoE, let pattern = dense.slidingLayers {
        // Qwen2-MoE's own rule slides odd layers below max_window_layers; the dense rule must be spelled out.
        c["layer_types"] = .array(pattern.map { .string($0 ? "sliding_attention" : "full_attention") })
      }
      if o.target == .qwen2MoE {
        c["attention_bias"] = nil
        c["qkv_bias"] = true
        c["shared_expert_intermediate_size"] = .integer(plan.denseWidth)
      } else if config["head_dim"] == nil {
        // Qwen3MoeConfig has no head_dim default of its own (hidden/heads); the dense Qwen3 one is 128.
        c["head_dim"] = 128
        notes.append("head_dim written as 128 (inferred: Qwen3Config's default; config.json did not set it)")
      }
    }
    return (c, notes)
  }

  /// `decoder_sparse_step` and `mlp_only_layers` selecting exactly `sparse`: a step s when the layers are those with
  /// (i + 1) % s == 0, else step 1 and the other layers listed.
  static func sparseRule(_ sparse: [Int], layers: Int) -> (step: Int, dense: [Int]) {
    let set = Set(sparse)
    for s in 1...max(layers, 1) where (0..<layers).allSatisfy({ set.contains($0) == (($0 + 1) % s == 0) }) {
      return (s, [])
    }
    return (1, (0..<layers).filter { !set.contains($0) })
  }

  /// Writes `rope_theta` (and `rope_scaling` when not default) at the top level as well, so a transformers 4
  /// reader, which ignores `rope_parameters`, does not fall back to the target's own default θ (Mixtral's is 1e6).
  ///
  /// - Returns: whether θ was absent and written as the dense families' default.
  static func makeRoPEExplicit(_ c: inout JSONObject) -> Bool {
    if let p = c["rope_parameters"]?.objectValue {
      if c["rope_theta"] == nil, let theta = p["rope_theta"] { c["rope_theta"] = theta }
      let type = p["rope_type"]?.stringValue ?? p["type"]?.stringValue ?? "default"
      if type != "default", c["rope_scaling"] == nil || c["rope_scaling"] == .null {
        var scaling = p
        scaling["rope_theta"] = nil
        c["rope_scaling"] = .object(scaling)
      }
    } else if c["rope_theta"] == nil {
      // Llama, Mistral, Qwen2 and Qwen3 all default to θ = 10000; the targets may not.
      c["rope_theta"] = 10000.0
      return true
    }
    return false
  }
}
