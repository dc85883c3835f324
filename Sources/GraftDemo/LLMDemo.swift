public import Graft

/// A tiny seeded decoder-only LLM built in code (Llama, Qwen2 or Qwen3 layout) and the `graft demo` step that
/// upcycles it into a Mixtral folder and proves the two compute the same logits.
public enum LLMDemo {
  /// The dense model's shape.
  public struct Configuration: Sendable {
    /// `model_type`: `llama`, `mistral`, `qwen2` (q/k/v biases) or `qwen3` (q/k norms).
    public var family = "llama"
    /// `vocab_size`.
    public var vocabulary = 64
    /// `hidden_size`.
    public var hidden = 32
    /// `intermediate_size`.
    public var intermediate = 48
    /// `num_hidden_layers`.
    public var layers = 2
    /// `num_attention_heads`.
    public var heads = 4
    /// `num_key_value_heads`.
    public var keyValueHeads = 2
    /// `tie_word_embeddings`.
    public var tied = false
    /// The weights' dtype (F32, BF16 or F16).
    public var dtype = DType.float32
    /// Creates the default: a 2-layer Llama, hidden 32, MLP 48, GQA 4/2, vocabulary 64, float32.
    public init() {}
  }

  /// The model's tensors (Hugging Face names) and its `config.json`.
  public static func model(
    _ c: Configuration = Configuration(), seed: UInt64 = 16
  ) throws(GraftError) -> (table: TensorTable, config: JSONObject) {
    var rng = SplitMix64(seed: seed)
    var t = TensorTable()
    let h = c.hidden
    let hd = h / c.heads
    func add(_ name: String, _ shape: [Int], scale: Float, offset: Float = 0) throws(GraftError) {
      let n = shape.reduce(1, *)
      let values = (0..<n).map { _ in offset + scale * rng.approximateNormalFloat() }
      // Round to nearest even, as torch's `.to(dtype)`.
      let f32 = Tensor(float32: values, shape: shape)
      try t.append(name, try Cast.lazily(f32, to: c.dtype, options: CastOptions(), collector: CastReportCollector()))
    }
    let s = 1 / Float(h).squareRoot()
    try add("model.embed_tokens.weight", [c.vocabulary, h], scale: 1)
    for i in 0..<c.layers {
      let p = "model.layers.\(i)."
      try add(p + "input_layernorm.weight", [h], scale: 0.1, offset: 1)
      for (m, rows) in [("q", c.heads * hd), ("k", c.keyValueHeads * hd), ("v", c.keyValueHeads * hd)] {
        try add(p + "self_attn.\(m)_proj.weight", [rows, h], scale: s)
        if c.family == "qwen2" { try add(p + "self_attn.\(m)_proj.bias", [rows], scale: 0.1) }
      }
      try add(p + "self_attn.o_proj.weight", [h, c.heads * hd], scale: s)
      if c.family == "qwen3" {
        try add(p + "self_attn.q_norm.weight", [hd], scale: 0.1, offset: 1)
        try add(p + "self_attn.k_norm.weight", [hd], scale: 0.1, offset: 1)
      }
      try add(p + "post_attention_layernorm.weight", [h], scale: 0.1, offset: 1)
      try add(p + "mlp.gate_proj.weight", [c.intermediate, h], scale: s)
      try add(p + "mlp.up_proj.weight", [c.intermediate, h], scale: s)
      try add(p + "mlp.down_proj.weight", [h, c.intermediate], scale: 1 / Float(c.intermediate).squareRoot())
    }
    try add("model.norm.weight", [h], scale: 0.1, offset: 1)
    if !c.tied { try add("lm_head.weight", [c.vocabulary, h], scale: s) }
    let architecture = ["llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM", "qwen2": "Qwen2ForCausalLM"]
    let literal: JSONValue = [
      "architectures": [.string(architecture[c.family] ?? "Qwen3ForCausalLM")],
      "model_type": .string(c.family), "vocab_size": .integer(c.vocabulary), "hidden_size": .integer(h),
      "intermediate_size": .integer(c.intermediate), "num_hidden_layers": .integer(c.layers),
      "num_attention_heads": .integer(c.heads), "num_key_value_heads": .integer(c.keyValueHeads),
      "head_dim": .integer(hd), "hidden_act": "silu", "rms_norm_eps": 1e-5, "max_position_embeddings": 128,
      "rope_parameters": ["rope_type": "default", "rope_theta": 10000.0],
      "tie_word_embeddings": .bool(c.tied), "bos_token_id": 1, "eos_token_id": 2,
    ]
    var config = literal.objectValue ?? JSONObject()
    if c.family == "mistral" { config["sliding_window"] = .null }
    return (t, config)
  }

  /// Writes the tiny Llama as a model folder, upcycles it into a 4-expert top-2 Mixtral folder (every check of
  /// `graft moe upcycle`), reads both folders back and compares their logits with `graft check`'s LLM figures.
  ///
  /// - Returns: whether every check passed, and the lines to print.
  public static func run(workFolder: String) throws -> (passed: Bool, lines: [String]) {
    let (table, config) = try model()
    let dense = workFolder + "/llama"
    try HuggingFaceFolder.write(table, config: config, to: dense)
    var options = LLMMoEWorkflow.Options(input: dense, output: workFolder + "/mixtral")
    options.upcycle.target = .mixtral
    options.upcycle.experts = 4
    options.upcycle.topK = 2
    let result = try LLMMoEWorkflow.upcycle(options)
    var lines = [
      "tiny Llama (2 layers, hidden 32, MLP 48, GQA 4/2, vocab 64) → \(dense)"
    ]
    lines += result.summary
    lines += (result.checks?.rows ?? []).map { row in
      "\(row.outcome == .failed ? "✘" : "✔") \(row.name): " + (row.note ?? "")
    }
    guard result.written != nil else { return (false, lines + ["not written: a check failed"]) }
    let check = try CheckWorkflow.compare(before: dense, after: options.output, options: CheckOptions(batch: 2))
    if let logits = check.row("logits") {
      lines.append(
        "graft check llama mixtral: logits max|Δ|/max|before| "
          + Format.scientific(logits.number("relative") ?? .nan) + ", top-1 "
          + Format.fixed((logits.number("argmax") ?? 0) * 100, digits: 0) + "%, KL max "
          + Format.scientific(logits.number("kl_max") ?? .nan) + " (\(check.passed ? "PASS" : "FAIL"))")
    }
    lines.append(
      "wrote \(result.tensorCount) tensors to \(options.output) (config.json: MixtralForCausalLM, "
        + "num_local_experts 4, num_experts_per_tok 2)")
    return (result.passed && check.passed, lines)
  }
}
