import GraftCore

/// The Hugging Face MoE architecture an LLM is upcycled into.
public enum LLMMoETarget: String, Sendable, CaseIterable {
  /// `MixtralForCausalLM`: every layer sparse, renormalised top-k, expert width = `intermediate_size`.
  case mixtral
  /// `Qwen2MoeForCausalLM`: sparse and dense layers, a sigmoid-gated shared expert, `norm_topk_prob`.
  case qwen2MoE = "qwen2-moe"
  /// `Qwen3MoeForCausalLM`: sparse and dense layers, q/k norms, `norm_topk_prob`, no shared expert.
  case qwen3MoE = "qwen3-moe"

  /// `model_type` of the output.
  public var modelType: String {
    switch self {
    case .mixtral: return "mixtral"
    case .qwen2MoE: return "qwen2_moe"
    case .qwen3MoE: return "qwen3_moe"
    }
  }

  /// `architectures[0]` of the output.
  public var architecture: String {
    switch self {
    case .mixtral: return "MixtralForCausalLM"
    case .qwen2MoE: return "Qwen2MoeForCausalLM"
    case .qwen3MoE: return "Qwen3MoeForCausalLM"
    }
  }

  /// The dense `model_type`s whose computation the target can hold exactly.
  public var denseSources: [String] {
    switch self {
    case .mixtral: return ["llama", "mistral"]
    case .qwen2MoE: return ["qwen2", "llama", "mistral"]
    case .qwen3MoE: return ["qwen3"]
    }
  }

  /// The target for a `model_type`, if it is one.
  public init?(modelType: String) {
    guard let t = Self.allCases.first(where: { $0.modelType == modelType }) else { return nil }
    self = t
  }
}

/// How expert tensors are named on disk.
public enum LLMMoELayout: String, Sendable, CaseIterable {
  /// One tensor per expert and projection: Mixtral `block_sparse_moe.experts.N.w1/w2/w3`, Qwen
  /// `mlp.experts.N.gate_proj/up_proj/down_proj`. What transformers 4 reads and what transformers 5 saves.
  case v4
  /// transformers 5's in-memory parameters: `mlp.experts.gate_up_proj [E, 2I, H]` (gate rows first) and
  /// `mlp.experts.down_proj [E, H, I]`, router `mlp.gate.weight`.
  case v5Fused = "v5-fused"
}

/// What the Qwen2-MoE shared expert starts as.
public enum LLMSharedExpert: String, Sendable, CaseIterable {
  /// The dense MLP (as mergekit's shared expert): the layer computes routed + σ(g·x)·f, which is not the dense
  /// function.
  case dense
  /// The dense gate and up projections with a zero down projection: it adds nothing until trained, so the routed
  /// part alone decides exactness.
  case zero
}

/// How each expert is made from the dense MLP `f(x) = down(silu(gate x) ⊙ up x)`.
public enum LLMExpertConstruction: Sendable, Equatable {
  /// E copies of the dense MLP (sparse upcycling).
  case copies
  /// The intermediate units split into E disjoint experts of `I / E` units; each expert's down projection is
  /// multiplied by E, so that all experts with uniform weights 1/E sum to the dense MLP.
  case partition(MoEPartitionStrategy)
}
