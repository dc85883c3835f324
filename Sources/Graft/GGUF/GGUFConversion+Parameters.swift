extension GGUFConversion {
  /// The architecture key-values `convert_hf_to_gguf.py` writes for these families (`TextModel.set_gguf_parameters`,
  /// `LlamaModel.set_gguf_parameters`, `Qwen2MoeModel.set_gguf_parameters`), in its order, with llama.cpp's exact
  /// types: counts UINT32, epsilons and θ FLOAT32.
  ///
  /// Values come from the parsed configuration, so keys config.json leaves out get transformers' class defaults
  /// (listed in the notes) where the Python converter would omit them.
  static func architectureKeyValues(
    _ c: LLMConfiguration, config: JSONObject, architecture arch: GGUFArchitecture, notes: inout [String]
  ) throws(GraftError) -> [GGUFKeyValue] {
    let a = arch.rawValue
    var kv: [GGUFKeyValue] = []
    func u32(_ key: String, _ value: Int) throws(GraftError) {
      guard let v = UInt32(exactly: value) else {
        throw GraftError(.invalidModel, "\(key) is \(value), which GGUF's UINT32 cannot hold")
      }
      kv.append(GGUFKeyValue("\(a).\(key)", .uint32(v)))
    }
    func f32(_ key: String, _ value: Double) { kv.append(GGUFKeyValue("\(a).\(key)", .float32(Float(value)))) }
    try u32("block_count", c.layerCount)
    try u32("context_length", c.maxPositionEmbeddings)
    try u32("embedding_length", c.hiddenSize)
    try u32("feed_forward_length", c.intermediateSize)
    try u32("attention.head_count", c.attentionHeads)
    try u32("attention.head_count_kv", c.keyValueHeads)
    let rope = ropeParameters(config)
    switch c.rope.scaling {
    case .none, .llama3: break
    case .linear(let factor):
      kv.append(GGUFKeyValue("\(a).rope.scaling.type", .string("linear")))
      f32("rope.scaling.factor", factor)
    case .yarn(let factor, let original, _, _, _, _):
      kv.append(GGUFKeyValue("\(a).rope.scaling.type", .string("yarn")))
      f32("rope.scaling.factor", factor)
      try u32("rope.scaling.original_context_length", original)
      // Only what config.json states, as the Python converter writes: llama.cpp has its own defaults for the rest.
      for (key, names) in [
        ("rope.scaling.yarn_ext_factor", ["extrapolation_factor"]),
        ("rope.scaling.yarn_attn_factor", ["attention_factor", "attn_factor"]),
        ("rope.scaling.yarn_beta_fast", ["beta_fast"]), ("rope.scaling.yarn_beta_slow", ["beta_slow"]),
      ] {
        if let v = names.lazy.compactMap({ rope[$0]?.doubleValue }).first { f32(key, v) }
      }
    case .dynamic(let factor):
      notes.append(
        "rope_type dynamic (factor \(factor)) is not stored: GGUF has no dynamic NTK scaling, so llama.cpp runs the "
          + "unscaled θ (as convert_hf_to_gguf.py does)")
    }
    f32("rope.freq_base", c.rope.theta)
    f32("attention.layer_norm_rms_epsilon", c.rmsNormEpsilon)
    if let moe = c.mixtureOfExperts {
      try u32("expert_count", moe.expertCount)
      try u32("expert_used_count", moe.topK)
    }
    // key_length is written when config.json states head_dim (the Python rule) and also whenever head_dim differs
    // from hidden/heads, since llama.cpp would otherwise assume hidden/heads (Qwen3's class default is 128).
    if config["head_dim"]?.intValue != nil || c.headDim * c.attentionHeads != c.hiddenSize {
      try u32("attention.key_length", c.headDim)
      try u32("attention.value_length", c.headDim)
    }
    if arch == .llama {
      try u32("vocab_size", c.vocabularySize)
      try u32("rope.dimension_count", c.headDim)
    }
    if let moe = c.mixtureOfExperts, arch == .qwen2moe || arch == .qwen3moe {
      try u32("expert_feed_forward_length", moe.expertIntermediateSize)
      if let shared = moe.sharedExpertIntermediateSize { try u32("expert_shared_feed_forward_length", shared) }
    }
    for s in c.settings where keysWritten.contains(s.name) {
      if case .key = s.source { continue }
      notes.append("\(s.name) = \(s.value) is not in config.json; written from the \(s.source)")
    }
    return kv
  }

  /// The settings behind the written keys, for the notes about defaults.
  static let keysWritten: Set<String> = [
    "num_hidden_layers", "max_position_embeddings", "hidden_size", "intermediate_size", "num_attention_heads",
    "num_key_value_heads", "rope_theta", "rms_norm_eps",
  ]

  /// `rope_parameters` (transformers 5) or `rope_scaling` (4), as config.json states them.
  static func ropeParameters(_ config: JSONObject) -> JSONObject {
    config["rope_parameters"]?.objectValue ?? config["rope_scaling"]?.objectValue ?? JSONObject()
  }

  /// Refuses what llama.cpp's loader for `architecture` cannot represent, naming the config.json key; notes what it
  /// represents differently.
  static func checkRepresentable(
    _ c: LLMConfiguration, architecture arch: GGUFArchitecture, notes: inout [String]
  ) throws(GraftError) {
    if c.activation != .silu {
      throw GraftError(
        .unsupported,
        "hidden_act is \(c.activation.rawValue); llama.cpp's \(arch.rawValue) architecture computes SiLU only")
    }
    if let moe = c.mixtureOfExperts, arch != .llama {
      if moe.sparseLayers.contains(false) {
        throw GraftError(
          .unsupported,
          "config.json makes some layers dense (mlp_only_layers / decoder_sparse_step); llama.cpp's "
            + "\(arch.rawValue) architecture needs every layer to be MoE"
        ).resolved(by: "mlp_only_layers")
      }
      // llama.cpp hard-codes the renormalisation: never for qwen2moe, always for qwen3moe.
      let llamaCppNormalizes = arch == .qwen3moe
      if moe.normalizeTopK != llamaCppNormalizes {
        throw GraftError(
          .unsupported,
          "config.json norm_topk_prob is \(moe.normalizeTopK) but llama.cpp's \(arch.rawValue) architecture "
            + "always uses \(llamaCppNormalizes), so the GGUF would compute a different model"
        ).resolved(by: "norm_topk_prob")
      }
    }
    if c.mlpBias && arch != .llama {
      throw GraftError(.unsupported, "MLP biases are not part of llama.cpp's \(arch.rawValue) architecture")
    }
    if let window = c.slidingWindows.compactMap({ $0 }).first {
      notes.append(
        "sliding window \(window) is not stored: llama.cpp's \(arch.rawValue) architecture attends to every "
          + "position, so outputs differ from transformers past \(window) tokens")
    }
  }
}
