/// The GGUF architectures (`general.architecture`) that Graft converts to and from Hugging Face model folders, with
/// llama.cpp's tensor names for them (gguf-py `constants.py::TENSOR_NAMES`, `tensor_mapping.py`).
public enum GGUFArchitecture: String, Sendable, CaseIterable {
  /// Llama, Mistral and Mixtral (`LlamaModel` in `convert_hf_to_gguf.py`): adjacent-pair RoPE, so Q and K are
  /// permuted.
  case llama
  /// Qwen2 / Qwen2.5.
  case qwen2
  /// Qwen3.
  case qwen3
  /// Qwen2-MoE (Qwen1.5-MoE).
  case qwen2moe
  /// Qwen3-MoE.
  case qwen3moe

  /// The GGUF architecture of a transformers model family.
  public init(family: LLMConfiguration.Family) {
    switch family {
    case .llama, .mistral, .mixtral: self = .llama
    case .qwen2: self = .qwen2
    case .qwen3: self = .qwen3
    case .qwen2MoE: self = .qwen2moe
    case .qwen3MoE: self = .qwen3moe
    }
  }

  /// Whether llama.cpp rotates adjacent pairs for this architecture (ggml NORM RoPE), so the converter permutes the
  /// rows of Q and K (`LlamaModel.undo_permute`); the Qwen architectures rotate halves (NEOX) as transformers does.
  public var permutesQueryKey: Bool { self == .llama }

  /// The supported names, for messages.
  static var supportedNames: String { allCases.map(\.rawValue).joined(separator: ", ") }
}

/// llama.cpp's names for the tensors of one decoder layer, keyed by the Hugging Face name after `model.layers.N.`.
enum GGUFTensorNames {
  /// Hugging Face → GGUF names outside the layers.
  static let global: [(hf: String, gguf: String)] = [
    ("model.embed_tokens.weight", "token_embd.weight"),
    ("model.norm.weight", "output_norm.weight"),
    ("lm_head.weight", "output.weight"),
  ]

  /// Hugging Face layer suffix → GGUF layer suffix, in the order the converter writes them.
  static let layer: [(hf: String, gguf: String)] = [
    ("input_layernorm.weight", "attn_norm.weight"),
    ("self_attn.q_proj.weight", "attn_q.weight"), ("self_attn.q_proj.bias", "attn_q.bias"),
    ("self_attn.k_proj.weight", "attn_k.weight"), ("self_attn.k_proj.bias", "attn_k.bias"),
    ("self_attn.v_proj.weight", "attn_v.weight"), ("self_attn.v_proj.bias", "attn_v.bias"),
    ("self_attn.o_proj.weight", "attn_output.weight"), ("self_attn.o_proj.bias", "attn_output.bias"),
    ("self_attn.q_norm.weight", "attn_q_norm.weight"), ("self_attn.k_norm.weight", "attn_k_norm.weight"),
    ("post_attention_layernorm.weight", "ffn_norm.weight"),
    ("mlp.gate_proj.weight", "ffn_gate.weight"), ("mlp.gate_proj.bias", "ffn_gate.bias"),
    ("mlp.up_proj.weight", "ffn_up.weight"), ("mlp.up_proj.bias", "ffn_up.bias"),
    ("mlp.down_proj.weight", "ffn_down.weight"), ("mlp.down_proj.bias", "ffn_down.bias"),
    ("block_sparse_moe.gate.weight", "ffn_gate_inp.weight"), ("mlp.gate.weight", "ffn_gate_inp.weight"),
    ("mlp.shared_expert_gate.weight", "ffn_gate_inp_shexp.weight"),
    ("mlp.shared_expert.gate_proj.weight", "ffn_gate_shexp.weight"),
    ("mlp.shared_expert.up_proj.weight", "ffn_up_shexp.weight"),
    ("mlp.shared_expert.down_proj.weight", "ffn_down_shexp.weight"),
  ]

  /// The stacked expert tensors, in the order llama.cpp's converter writes them, with the per-expert names of
  /// Mixtral (`w1`/`w3`/`w2`) and of the Qwen MoE models.
  static let experts: [(gguf: String, mixtral: String, qwen: String)] = [
    ("ffn_gate_exps.weight", "w1", "gate_proj"),
    ("ffn_up_exps.weight", "w3", "up_proj"),
    ("ffn_down_exps.weight", "w2", "down_proj"),
  ]

  /// Splits `model.layers.N.rest` into `(N, rest)`.
  static func layerName(_ name: String) -> (layer: Int, rest: Substring)? {
    let prefix = "model.layers."
    guard name.hasPrefix(prefix) else { return nil }
    let tail = name.dropFirst(prefix.count)
    guard let dot = tail.firstIndex(of: "."), let n = Int(tail[..<dot]), n >= 0 else { return nil }
    return (n, tail[tail.index(after: dot)...])
  }

  /// Splits `blk.N.rest` into `(N, rest)`.
  static func blockName(_ name: String) -> (layer: Int, rest: Substring)? {
    guard name.hasPrefix("blk.") else { return nil }
    let tail = name.dropFirst(4)
    guard let dot = tail.firstIndex(of: "."), let n = Int(tail[..<dot]), n >= 0 else { return nil }
    return (n, tail[tail.index(after: dot)...])
  }

  /// The position of a GGUF name in the order Graft writes tensors: embeddings, then each layer in the order of
  /// ``layer`` and ``experts``, then the final norm and the output.
  static func rank(_ name: String) -> (Int, Int, Int) {
    if name == "token_embd.weight" { return (0, 0, 0) }
    if name == "rope_freqs.weight" { return (1, 0, 0) }
    if name == "output_norm.weight" { return (3, 0, 0) }
    if name == "output.weight" { return (4, 0, 0) }
    guard let (n, rest) = blockName(name) else { return (5, 0, 0) }
    if let i = layer.firstIndex(where: { $0.gguf == rest }) { return (2, n, i) }
    if let i = experts.firstIndex(where: { $0.gguf == rest }) { return (2, n, layer.count + i) }
    return (2, n, layer.count + experts.count)
  }
}
