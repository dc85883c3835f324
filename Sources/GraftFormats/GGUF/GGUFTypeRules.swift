public import GraftCore

extension GGUF {
  /// What to store each tensor of a table as.
  public enum Target: Sendable, Equatable, CustomStringConvertible {
    /// Every tensor as it is stored: quantized blocks unchanged, F32/F16/BF16/F64/I8…I64 as themselves.
    case keep
    /// Weights as this type; 1-D tensors, norms, biases and routers as F32, as `convert_hf_to_gguf.py --outtype`
    /// decides (`ModelBase.prepare_tensors`). For block types, llama-quantize's rules also apply: the tensors it
    /// never quantizes stay F32/F16, and rows that are not whole blocks fall back as it falls back.
    case type(GGMLType)
    /// llama-quantize's Q4_K_M mix (`llama_tensor_get_type_impl`): Q4_K, with Q6_K for the output (or the tied
    /// token embedding), half of `attn_v` and `ffn_down`, and the other adjustments it makes by architecture.
    case q4_K_M

    /// Parses `keep`, `Q4_K_M` or a ggml type name (`Q8_0`, `f16`).
    public init?(name: String) {
      switch name.uppercased() {
      case "KEEP": self = .keep
      case "Q4_K_M": self = .q4_K_M
      default:
        guard let type = GGMLType(name: name) else { return nil }
        self = .type(type)
      }
    }

    /// The name.
    public var description: String {
      switch self {
      case .keep: return "keep"
      case .type(let t): return t.name
      case .q4_K_M: return "Q4_K_M"
      }
    }

    /// llama.cpp's `general.file_type` (`llama_ftype`) for this target, when one describes it.
    public var fileType: UInt32? {
      switch self {
      case .keep: return nil
      case .q4_K_M: return 15
      case .type(let t):
        let table: [GGMLType: UInt32] = [
          .f32: 0, .f16: 1, .q4_0: 2, .q4_1: 3, .q8_0: 7, .q5_0: 8, .q5_1: 9, .q6_K: 18, .bf16: 32,
        ]
        return table[t]
      }
    }
  }

  /// The hyperparameters llama-quantize's mix rules read (`{arch}.block_count` and friends).
  public struct ModelFacts: Sendable, Equatable {
    /// `general.architecture`.
    public var architecture: String
    /// `{arch}.block_count` (llama.cpp's `n_layer`).
    public var blockCount: Int
    /// `{arch}.expert_count`, 0 for dense models.
    public var expertCount: Int
    /// `{arch}.attention.head_count`.
    public var headCount: Int
    /// `{arch}.attention.head_count_kv` (defaults to the head count, as in llama.cpp).
    public var headCountKV: Int

    /// Creates facts.
    public init(architecture: String, blockCount: Int, expertCount: Int = 0, headCount: Int = 0, headCountKV: Int = 0) {
      self.architecture = architecture
      self.blockCount = blockCount
      self.expertCount = expertCount
      self.headCount = headCount
      self.headCountKV = headCountKV
    }

    /// Reads the facts from GGUF metadata.
    ///
    /// - Throws: `invalidArgument` naming the missing key (`general.architecture`, `{arch}.block_count`).
    public init(metadata: JSONObject) throws(GraftError) {
      guard let arch = metadata["general.architecture"]?.stringValue else {
        throw GraftError(.invalidArgument, "the Q4_K_M mix needs general.architecture in the metadata")
      }
      guard let blocks = metadata["\(arch).block_count"]?.intValue, blocks > 0 else {
        throw GraftError(.invalidArgument, "the Q4_K_M mix needs \(arch).block_count (the number of layers)")
      }
      let heads = metadata["\(arch).attention.head_count"]?.intValue ?? 0
      self.init(
        architecture: arch, blockCount: blocks, expertCount: metadata["\(arch).expert_count"]?.intValue ?? 0,
        headCount: heads, headCountKV: metadata["\(arch).attention.head_count_kv"]?.intValue ?? heads)
    }

    /// llama.cpp's `LLM_TYPE_70B` as its quantizer infers it: Llama with 80 layers and grouped-query attention.
    var is70B: Bool { architecture == "llama" && blockCount == 80 && headCount != headCountKV }
  }

  /// The type chosen for one tensor and, when a rule changed it, why.
  public struct TypeChoice: Sendable, Equatable {
    /// The tensor's name.
    public var name: String
    /// The stored type.
    public var type: GGMLType
    /// The rule that picked a type other than the target's, if any.
    public var reason: String?
  }

  /// `ggml_n_dims`: dimensions up to the last one larger than 1 (a `[1, H]` router counts as 1-D).
  static func ggmlRank(_ shape: [Int]) -> Int {
    let ne = Array(shape.reversed())
    for i in stride(from: ne.count - 1, through: 1, by: -1) where ne[i] > 1 { return i + 1 }
    return 1
  }

  /// `convert_hf_to_gguf.py`'s F32 rule: 1-D tensors, norms, routers, position and token-type embeddings, and
  /// anything that is not a `.weight` (biases).
  static func convertKeepsF32(_ name: String, shape: [Int]) -> String? {
    if shape.count <= 1 { return "1-D tensors stay F32 (convert_hf_to_gguf)" }
    if name.hasSuffix("_norm.weight") { return "norms stay F32 (convert_hf_to_gguf)" }
    for part in ["ffn_gate_inp", "position_embd", "token_types"] where name.contains(part) {
      return "\(part) stays F32 (convert_hf_to_gguf)"
    }
    if !name.hasSuffix(".weight") { return "non-weights (biases) stay F32 (convert_hf_to_gguf)" }
    return nil
  }

  /// Substrings of names llama-quantize never quantizes (`tensor_allows_quantization`).
  static let neverQuantized = [
    "_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel", "per_layer_model_proj",
    "ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight", "indexer.q_proj.weight", "time_mix_first.weight",
    "time_mix_w0.weight", "time_mix_w1.weight", "time_mix_w2.weight", "time_mix_v0.weight", "time_mix_v1.weight",
    "time_mix_v2.weight", "time_mix_a0.weight", "time_mix_a1.weight", "time_mix_a2.weight", "time_mix_g1.weight",
    "time_mix_g2.weight", "time_mix_decay_w1.weight", "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight",
    "attn_rel_b.weight", ".position_embd", "sam.pos_embd", "sam.neck.", "sam.net_", ".rel_pos", ".patch_embd",
    ".patch_merger", "a.rvq.codebook", "mm.a.code_embd",
  ]

  /// Why llama-quantize would leave a tensor unquantized, or `nil` when it quantizes it.
  static func quantizeRefusal(_ name: String, shape: [Int]) -> String? {
    if ggmlRank(shape) < 2 { return "llama-quantize quantizes only 2-D and 3-D tensors" }
    if !name.hasSuffix("weight") { return "llama-quantize quantizes only weights" }
    if name == "position_embd.weight" || name == "token_types.weight" {
      return "llama-quantize keeps \(name) unquantized"
    }
    for part in neverQuantized where name.contains(part) { return "llama-quantize never quantizes '\(part)'" }
    return nil
  }

  /// llama-quantize's `tensor_type_fallback`: a type for rows that are not whole blocks of `type`.
  static func fallback(_ type: GGMLType, rowLength: Int) -> GGMLType {
    var next: GGMLType
    switch type {
    case .q2_K, .q3_K, .tq1_0, .tq2_0, .q2_0: next = .q4_0
    case .q4_K: next = .q5_0
    case .q5_K: next = .q5_1
    case .q6_K: next = .q8_0
    case .iq1_S, .iq1_M, .iq2_XXS, .iq2_XS, .iq2_S, .iq3_XXS, .iq3_S, .iq4_XS: next = .iq4_NL
    default: next = type
    }
    if rowLength % next.blockElements != 0 { next = .f16 }
    return next
  }
}
