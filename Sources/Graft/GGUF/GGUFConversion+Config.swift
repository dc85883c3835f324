extension GGUFConversion {
  /// Reads typed GGUF key-values out of a table's metadata, with errors naming the key.
  struct KeyValueReader {
    var metadata: JSONObject
    var architecture: String
    var file: String

    func value(_ key: String) -> JSONValue? { metadata[key] }
    func optionalInt(_ suffix: String) -> Int? { metadata["\(architecture).\(suffix)"]?.intValue }

    func int(_ suffix: String) throws(GraftError) -> Int {
      guard let v = optionalInt(suffix), v > 0 else {
        throw GraftError(
          .invalidModel,
          "the key \(architecture).\(suffix) is missing or not a positive integer; llama.cpp requires it",
          file: file)
      }
      return v
    }

    /// A FLOAT32 key as the shortest decimal that reads back to the same Float (1e-05, not 9.99999974738e-06),
    /// which is what config.json held before the conversion rounded it to Float32.
    func float(_ suffix: String) -> Double? {
      guard let d = metadata["\(architecture).\(suffix)"]?.doubleValue else { return nil }
      return Double(String(describing: Float(d))) ?? d
    }
  }

  /// config.json for a GGUF model, from its key-values (transformers' `GGUF_CONFIG_MAPPING`, plus what it lacks:
  /// Mixtral, the expert widths, `norm_topk_prob` as llama.cpp hard-codes it) and its tensor set (biases, tied
  /// output, `rope_freqs`).
  static func configuration(
    from table: TensorTable, architecture arch: GGUFArchitecture, file: String, notes: inout [String]
  ) throws(GraftError) -> JSONObject {
    let r = KeyValueReader(metadata: table.metadata, architecture: arch.rawValue, file: file)
    let hidden = try r.int("embedding_length")
    let heads = try r.int("attention.head_count")
    let kvHeads = r.optionalInt("attention.head_count_kv") ?? heads
    let experts = r.optionalInt("expert_count") ?? 0
    let keyLength = r.optionalInt("attention.key_length")
    if let v = r.optionalInt("attention.value_length"), let k = keyLength, v != k {
      throw GraftError(
        .unsupported, "attention.key_length \(k) ≠ value_length \(v); transformers has one head_dim", file: file)
    }
    let headDim = keyLength ?? hidden / heads
    if arch == .llama, let rot = r.optionalInt("rope.dimension_count"), rot != headDim {
      throw GraftError(
        .unsupported, "rope.dimension_count \(rot) ≠ head size \(headDim): partial rotary embeddings are not converted",
        file: file)
    }
    guard let embedding = table["token_embd.weight"], embedding.shape.count == 2 else {
      throw GraftError(
        .invalidModel, "token_embd.weight is missing or not 2-D", file: file, tensor: "token_embd.weight")
    }
    let family: LLMConfiguration.Family
    switch arch {
    case .llama: family = experts > 0 ? .mixtral : .llama
    case .qwen2: family = .qwen2
    case .qwen3: family = .qwen3
    case .qwen2moe: family = .qwen2MoE
    case .qwen3moe: family = .qwen3MoE
    }
    let className: [LLMConfiguration.Family: String] = [
      .llama: "LlamaForCausalLM", .mixtral: "MixtralForCausalLM", .qwen2: "Qwen2ForCausalLM",
      .qwen3: "Qwen3ForCausalLM", .qwen2MoE: "Qwen2MoeForCausalLM", .qwen3MoE: "Qwen3MoeForCausalLM",
    ]
    var c = JSONObject()
    c["architectures"] = .array([.string(className[family] ?? "")])
    c["model_type"] = .string(family.rawValue)
    c["vocab_size"] = .integer(embedding.shape[0])
    c["hidden_size"] = .integer(hidden)
    c["intermediate_size"] = .integer(try r.int("feed_forward_length"))
    c["num_hidden_layers"] = .integer(try r.int("block_count"))
    c["num_attention_heads"] = .integer(heads)
    c["num_key_value_heads"] = .integer(kvHeads)
    // Qwen3's class default is 128, so it is always written; for the others only when it is not hidden/heads.
    if headDim * heads != hidden || family == .qwen3 || family == .qwen3MoE { c["head_dim"] = .integer(headDim) }
    c["max_position_embeddings"] = .integer(try r.int("context_length"))
    guard let eps = r.float("attention.layer_norm_rms_epsilon") else {
      throw GraftError(
        .invalidModel, "the key \(arch.rawValue).attention.layer_norm_rms_epsilon is missing; llama.cpp requires it",
        file: file)
    }
    c["rms_norm_eps"] = .double(eps)
    c["hidden_act"] = "silu"
    let tied = table["output.weight"] == nil
    c["tie_word_embeddings"] = .bool(tied)
    c["rope_parameters"] = .object(try ropeParameters(r, table: table, headDim: headDim, notes: &notes))
    let qBias = table.contains("blk.0.attn_q.bias")
    let oBias = table.contains("blk.0.attn_output.bias")
    switch family {
    case .llama, .mistral, .mixtral:
      guard qBias == oBias else {
        throw GraftError(
          .unsupported,
          "attn_q has \(qBias ? "a" : "no") bias but attn_output has \(oBias ? "one" : "none"); LlamaConfig's "
            + "attention_bias covers both", file: file)
      }
      if family == .llama {
        c["attention_bias"] = .bool(qBias)
        c["mlp_bias"] = .bool(table.contains("blk.0.ffn_gate.bias"))
      }
    case .qwen2:
      c["use_sliding_window"] = false
    case .qwen3, .qwen3MoE:
      c["attention_bias"] = .bool(qBias)
    case .qwen2MoE:
      c["qkv_bias"] = .bool(qBias)
    }
    if experts > 0 {
      try moeConfiguration(&c, r, family: family, table: table)
    }
    c["dtype"] = .string(Dequantization.torchName(embedding.dtype))
    if let v = table.metadata["tokenizer.ggml.bos_token_id"]?.intValue { c["bos_token_id"] = .integer(v) }
    if let v = table.metadata["tokenizer.ggml.eos_token_id"]?.intValue { c["eos_token_id"] = .integer(v) }
    if let v = table.metadata["tokenizer.ggml.padding_token_id"]?.intValue { c["pad_token_id"] = .integer(v) }
    if arch == .llama && experts == 0 {
      notes.append(
        "general.architecture llama is rebuilt as LlamaForCausalLM (a Mistral computes the same without a sliding window)"
      )
    }
    return c
  }

  static func moeConfiguration(
    _ c: inout JSONObject, _ r: KeyValueReader, family: LLMConfiguration.Family, table: TensorTable
  ) throws(GraftError) {
    let experts = try r.int("expert_count")
    let used = try r.int("expert_used_count")
    if family == .mixtral {
      c["num_local_experts"] = .integer(experts)
      c["num_experts_per_tok"] = .integer(used)
      return
    }
    c["num_experts"] = .integer(experts)
    c["num_experts_per_tok"] = .integer(used)
    // llama.cpp's default when the key is absent: n_ff / n_expert_used.
    let dense = try r.int("feed_forward_length")
    let width = r.optionalInt("expert_feed_forward_length") ?? dense / used
    c["moe_intermediate_size"] = .integer(width)
    if family == .qwen2MoE {
      let shared = r.optionalInt("expert_shared_feed_forward_length") ?? table["blk.0.ffn_gate_shexp.weight"]?.shape[0]
      if let shared { c["shared_expert_intermediate_size"] = .integer(shared) }
    }
    // llama.cpp hard-codes the renormalisation: never for qwen2moe, always for qwen3moe.
    c["norm_topk_prob"] = .bool(family == .qwen3MoE)
    c["decoder_sparse_step"] = 1
    c["mlp_only_layers"] = .array([])
  }

  /// `rope_parameters` from `rope.freq_base`, `rope.scaling.*` and `rope_freqs.weight`.
  static func ropeParameters(
    _ r: KeyValueReader, table: TensorTable, headDim: Int, notes: inout [String]
  ) throws(GraftError) -> JSONObject {
    let theta = r.float("rope.freq_base") ?? 10000
    if r.float("rope.freq_base") == nil { notes.append("rope.freq_base absent: θ = 10000 (llama.cpp's default)") }
    var p = JSONObject([("rope_theta", .double(theta))])
    let type = r.value("\(r.architecture).rope.scaling.type")?.stringValue ?? "none"
    let factor = r.float("rope.scaling.factor") ?? 0
    if let freqs = table["rope_freqs.weight"] {
      let llama3 = try inferLlama3(freqs, theta: theta, headDim: headDim, file: r.file)
      p = JSONObject([("rope_type", "llama3"), ("rope_theta", .double(theta))] + llama3.parameters.members)
      notes.append(llama3.note)
      return p
    }
    switch type {
    case "none" where factor == 0 || factor == 1, "linear" where factor == 0 || factor == 1:
      p["rope_type"] = "default"
    case "linear":
      p["rope_type"] = "linear"
      p["factor"] = .double(factor)
    case "yarn":
      p["rope_type"] = "yarn"
      p["factor"] = .double(factor)
      if let original = r.optionalInt("rope.scaling.original_context_length") {
        p["original_max_position_embeddings"] = .integer(original)
      }
      for (key, name) in [
        ("rope.scaling.yarn_attn_factor", "attention_factor"), ("rope.scaling.yarn_beta_fast", "beta_fast"),
        ("rope.scaling.yarn_beta_slow", "beta_slow"),
      ] {
        if let v = r.float(key) { p[name] = .double(v) }
      }
      if let v = r.float("rope.scaling.yarn_ext_factor"), v != 1 {
        throw GraftError(
          .unsupported, "rope.scaling.yarn_ext_factor \(v) has no transformers equivalent (it is 1 there)", file: r.file
        )
      }
    default:
      throw GraftError(
        .unsupported,
        "rope.scaling.type \(type) (factor \(factor)) has no transformers rope_type Graft rebuilds (default, "
          + "linear, yarn, llama3)", file: r.file)
    }
    return p
  }
}
