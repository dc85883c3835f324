import GraftCore

/// The computation a decoder-only language model's `config.json` describes, for the families the engine runs.
///
/// Parsed by ``init(json:options:)`` with transformers 5's rules (class defaults, v4 `rope_theta` + `rope_scaling`
/// and v5 `rope_parameters`, Qwen2's sliding-window layer rule, MoE layer selection). Every value the engine uses is
/// also listed in ``settings`` with where it came from, so a caller can print the configuration with its sources.
public struct LLMConfiguration: Sendable {
  /// A model family (`model_type`).
  public enum Family: String, Sendable, CaseIterable {
    /// `LlamaForCausalLM` (Llama 1/2/3.x).
    case llama
    /// `MistralForCausalLM`.
    case mistral
    /// `Qwen2ForCausalLM` (Qwen2, Qwen2.5).
    case qwen2
    /// `Qwen3ForCausalLM`.
    case qwen3
    /// `MixtralForCausalLM`.
    case mixtral
    /// `Qwen2MoeForCausalLM`.
    case qwen2MoE = "qwen2_moe"
    /// `Qwen3MoeForCausalLM`.
    case qwen3MoE = "qwen3_moe"

    /// transformers' configuration class, for messages.
    public var configurationClass: String {
      switch self {
      case .llama: return "LlamaConfig"
      case .mistral: return "MistralConfig"
      case .qwen2: return "Qwen2Config"
      case .qwen3: return "Qwen3Config"
      case .mixtral: return "MixtralConfig"
      case .qwen2MoE: return "Qwen2MoeConfig"
      case .qwen3MoE: return "Qwen3MoeConfig"
      }
    }

    /// Whether the family's decoder layers can hold a sparse MoE block.
    public var isMixtureOfExperts: Bool { self == .mixtral || self == .qwen2MoE || self == .qwen3MoE }
  }

  /// The MLP activation `act` in `down(act(gate(x)) ⊙ up(x))` (`hidden_act`).
  public enum Activation: String, Sendable {
    /// `silu` / `swish`: x·σ(x).
    case silu
    /// `gelu`: the exact erf form.
    case gelu
    /// `gelu_pytorch_tanh` / `gelu_new`: the tanh approximation.
    case geluTanh = "gelu_pytorch_tanh"
  }

  /// Where a setting's value came from.
  public enum Source: Sendable, Equatable, CustomStringConvertible {
    /// A key of config.json (dotted for nested keys, such as `rope_scaling.factor`).
    case key(String)
    /// The default of transformers' configuration class, because config.json does not set the key.
    case familyDefault(String)
    /// Computed from other settings (the text says how).
    case derived(String)

    /// `config.json rope_theta`, `LlamaConfig default`, `derived: hidden_size / num_attention_heads`.
    public var description: String {
      switch self {
      case .key(let key): return "config.json \(key)"
      case .familyDefault(let owner): return "\(owner) default"
      case .derived(let how): return "derived: \(how)"
      }
    }
  }

  /// One value of the configuration, rendered, with its source.
  public struct Setting: Sendable, Equatable {
    /// The transformers name of the value (`head_dim`, `rope_theta`, `sliding_window[1]`).
    public var name: String
    /// The value as text.
    public var value: String
    /// Where it came from.
    public var source: Source
  }

  /// Rotary position embedding parameters (`rope_parameters`, or v4 `rope_theta` + `rope_scaling`).
  public struct RoPE: Sendable, Equatable {
    /// How the inverse frequencies are scaled.
    public enum Scaling: Sendable, Equatable {
      /// `default`.
      case none
      /// `linear`: every inverse frequency divided by `factor`.
      case linear(factor: Double)
      /// `dynamic` NTK: θ grows with the sequence length once it exceeds `max_position_embeddings`.
      case dynamic(factor: Double)
      /// `llama3`: per-band scaling between `low_freq_factor` and `high_freq_factor`.
      case llama3(factor: Double, lowFrequencyFactor: Double, highFrequencyFactor: Double, originalMaxPositions: Int)
      /// `yarn`: ramp between interpolated and extrapolated frequencies, cos/sin scaled by the attention factor.
      case yarn(
        factor: Double, originalMaxPositions: Int, betaFast: Double, betaSlow: Double, attentionFactor: Double,
        truncate: Bool)
    }
    /// The base θ.
    public var theta: Double
    /// The scaling type and its parameters.
    public var scaling: Scaling
  }

  /// The sparse MoE blocks of Mixtral, Qwen2-MoE and Qwen3-MoE.
  public struct MixtureOfExperts: Sendable, Equatable {
    /// Routed experts per sparse layer (`num_local_experts` / `num_experts`).
    public var expertCount: Int
    /// Experts each token is routed to (`num_experts_per_tok`).
    public var topK: Int
    /// Whether the top-k weights are divided by their sum (always for Mixtral; `norm_topk_prob` for Qwen).
    public var normalizeTopK: Bool
    /// The width of one routed expert (`intermediate_size` for Mixtral, `moe_intermediate_size` for Qwen).
    public var expertIntermediateSize: Int
    /// The width of the Qwen2-MoE shared expert (`shared_expert_intermediate_size`), `nil` without one.
    public var sharedExpertIntermediateSize: Int?
    /// For each layer, whether its MLP is the sparse block (`decoder_sparse_step`, `mlp_only_layers`).
    public var sparseLayers: [Bool]
  }

  /// The family (`model_type`).
  public var family: Family
  /// `architectures` from config.json (empty when absent).
  public var architectures: [String]
  /// `vocab_size`.
  public var vocabularySize: Int
  /// `hidden_size`.
  public var hiddenSize: Int
  /// `intermediate_size`: the dense MLP width (Mixtral: the expert width).
  public var intermediateSize: Int
  /// `num_hidden_layers`.
  public var layerCount: Int
  /// `num_attention_heads`.
  public var attentionHeads: Int
  /// `num_key_value_heads`.
  public var keyValueHeads: Int
  /// `head_dim` (explicit, family default or hidden/heads).
  public var headDim: Int
  /// `max_position_embeddings` (read by dynamic RoPE; recorded for the others).
  public var maxPositionEmbeddings: Int
  /// `rms_norm_eps`.
  public var rmsNormEpsilon: Double
  /// `hidden_act`.
  public var activation: Activation
  /// `tie_word_embeddings`: the head reuses the embedding matrix.
  public var tieWordEmbeddings: Bool
  /// Whether q, k and v projections have biases.
  public var qkvBias: Bool
  /// Whether the output projection has a bias (Llama/Qwen3 `attention_bias`).
  public var outputBias: Bool
  /// Whether dense MLP projections have biases (Llama `mlp_bias`).
  public var mlpBias: Bool
  /// Whether attention applies the per-head q/k RMSNorm before RoPE (Qwen3, Qwen3-MoE).
  public var queryKeyNorm: Bool
  /// Rotary embedding parameters.
  public var rope: RoPE
  /// For each layer, the sliding-window length W (each query sees the W most recent positions), or `nil`.
  public var slidingWindows: [Int?]
  /// The sparse MoE blocks, `nil` for dense families.
  public var mixtureOfExperts: MixtureOfExperts?
  /// Every value above with its source, in parsing order.
  public var settings: [Setting]
  /// Keys that were ignored, and why (unknown keys, keys transformers does not read for this family).
  public var notes: [String]

  /// Whether layer `i`'s MLP is the sparse MoE block.
  public func isSparse(layer i: Int) -> Bool { mixtureOfExperts?.sparseLayers[i] ?? false }

  /// The configuration as `name = value  (source)` lines, then the notes.
  public var renderedLines: [String] {
    let width = settings.map(\.name.count).max() ?? 0
    let valueWidth = min(24, settings.map(\.value.count).max() ?? 0)
    var lines = settings.map { s in
      s.name.padding(to: width) + " = " + s.value.padding(to: valueWidth) + "  (" + s.source.description + ")"
    }
    lines += notes.map { "note: " + $0 }
    return lines
  }

  /// How ``init(json:options:)`` treats keys it does not implement.
  public struct ParseOptions: Sendable {
    /// Keys known to change the computation in other architectures that the caller accepts to ignore (they are then
    /// listed in ``LLMConfiguration/notes``).
    public var ignoringKeys: Set<String> = []
    /// Creates default options.
    public init() {}
  }
}

extension String {
  /// Pads with spaces to `width` characters (no truncation).
  fileprivate func padding(to width: Int) -> String {
    count >= width ? self : self + String(repeating: " ", count: width - count)
  }
}
