import GraftCore
import TestSupport
import Testing

@testable import GraftEngine

/// Parses a config.json text.
func llmConfiguration(_ text: String, ignoring: Set<String> = []) throws -> LLMConfiguration {
  let object = try #require(try JSONParser.parse(text).objectValue)
  var options = LLMConfiguration.ParseOptions()
  options.ignoringKeys = ignoring
  return try LLMConfiguration(json: object, options: options)
}

/// Expects parsing to fail with `code` and a message containing every fragment.
func expectConfigError(
  _ text: String, _ code: GraftError.Code, mentions fragments: [String],
  sourceLocation: SourceLocation = #_sourceLocation
) {
  do {
    _ = try llmConfiguration(text)
    Issue.record("parsed \(text)", sourceLocation: sourceLocation)
  } catch let error as GraftError {
    #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
    for f in fragments {
      #expect(error.message.contains(f), "\(error.message) lacks \(f)", sourceLocation: sourceLocation)
    }
  } catch {
    Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
  }
}

@Suite("LLMConfiguration: transformers 5 defaults, v4/v5 RoPE keys, refusals by name")
struct LLMConfigurationTests {
  let small = #""hidden_size": 32, "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 2"#

  func setting(_ c: LLMConfiguration, _ name: String) -> LLMConfiguration.Setting? {
    c.settings.last { $0.name == name }
  }

  @Test("head_dim traps: Qwen3 defaults to 128, Qwen3-MoE and Qwen2 fall back to hidden/heads, Llama null → derived")
  func headDim() throws {
    let qwen3 = try llmConfiguration(#"{"model_type": "qwen3", \#(small)}"#)
    #expect(qwen3.headDim == 128)
    #expect(setting(qwen3, "head_dim")?.source == .familyDefault("Qwen3Config"))
    let moe = try llmConfiguration(
      #"{"model_type": "qwen3_moe", \#(small), "num_experts": 4, "num_experts_per_tok": 2}"#)
    #expect(moe.headDim == 8)
    #expect(setting(moe, "head_dim")?.source == .derived("hidden_size / num_attention_heads"))
    let llama = try llmConfiguration(
      #"{"model_type": "llama", "hidden_size": 32, "num_attention_heads": 4, "head_dim": null}"#)
    #expect(llama.headDim == 8 && llama.keyValueHeads == 4)
    #expect(setting(llama, "num_key_value_heads")?.source == .derived("num_attention_heads"))
    let explicit = try llmConfiguration(#"{"model_type": "mistral", \#(small), "head_dim": 12}"#)
    #expect(explicit.headDim == 12 && explicit.keyValueHeads == 2)
    expectConfigError(#"{"model_type": "qwen2", \#(small), "head_dim": null}"#, .invalidModel, mentions: ["head_dim"])
  }

  @Test("family defaults and sources: Mixtral θ 1e6 and eps 1e-5, biases per family")
  func familyDefaults() throws {
    let mixtral = try LLMFixture("mixtral").configuration()
    #expect(mixtral.rope.theta == 1_000_000 && mixtral.rope.scaling == .none)
    #expect(setting(mixtral, "rope_theta")?.source == .familyDefault("MixtralConfig"))
    #expect(mixtral.mixtureOfExperts?.normalizeTopK == true && mixtral.mixtureOfExperts?.expertCount == 4)
    let bare = try llmConfiguration(#"{"model_type": "mixtral", "hidden_size": 64, "num_attention_heads": 8}"#)
    #expect(bare.rmsNormEpsilon == 1e-5 && bare.keyValueHeads == 8 && bare.mixtureOfExperts?.topK == 2)
    #expect(bare.mixtureOfExperts?.expertCount == 8 && bare.layerCount == 32 && bare.vocabularySize == 32000)
    let qwen2 = try llmConfiguration(#"{"model_type": "qwen2", \#(small)}"#)
    #expect(qwen2.qkvBias && !qwen2.outputBias)
    let llama = try LLMFixture("llama").configuration()
    #expect(llama.qkvBias && llama.outputBias && llama.mlpBias)
    let qwen2MoE = try llmConfiguration(#"{"model_type": "qwen2_moe", \#(small)}"#)
    #expect(qwen2MoE.qkvBias && qwen2MoE.mixtureOfExperts?.normalizeTopK == false)
    #expect(qwen2MoE.mixtureOfExperts?.sharedExpertIntermediateSize == 5632)
    #expect(qwen2MoE.renderedLines.contains { $0.hasPrefix("qkv_bias") && $0.hasSuffix("(Qwen2MoeConfig default)") })
  }

  @Test("RoPE: v4 rope_theta + rope_scaling (type alias), v5 rope_parameters, rope_scaling wins over both")
  func rope() throws {
    let v4 = try LLMFixture("llama_llama3").configuration()
    #expect(v4.rope.theta == 500_000)
    #expect(setting(v4, "rope_theta")?.source == .key("rope_theta"))
    #expect(
      v4.rope.scaling == .llama3(factor: 8, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalMaxPositions: 64))
    let alias = try LLMFixture("llama_linear_tied").configuration()
    #expect(alias.rope.scaling == .linear(factor: 2) && alias.tieWordEmbeddings)
    #expect(setting(alias, "rope_type")?.source == .key("rope_scaling.type"))
    let yarn = try LLMFixture("qwen3").configuration()
    guard case .yarn(let factor, let original, let fast, let slow, let attention, let truncate) = yarn.rope.scaling
    else {
      Issue.record("qwen3 fixture is not yarn: \(yarn.rope)")
      return
    }
    #expect(factor == 4 && original == 16 && fast == 32 && slow == 1 && truncate)
    #expect(abs(attention - (0.1 * Elementary.log(4.0) + 1)) < 1e-12)
    let both = try llmConfiguration(
      #"{"model_type": "llama", \#(small), "rope_theta": 5.0e5, "rope_parameters": {"rope_type": "default", "#
        + #""rope_theta": 1.0e4}, "rope_scaling": {"rope_type": "dynamic", "factor": 2.0}}"#)
    #expect(both.rope.theta == 500_000 && both.rope.scaling == .dynamic(factor: 2))
    #expect(both.notes.contains { $0.contains("rope_scaling takes precedence") })
    let llama3Top = try llmConfiguration(
      #"{"model_type": "llama", \#(small), "original_max_position_embeddings": 32, "rope_scaling": {"#
        + #""rope_type": "llama3", "factor": 8, "low_freq_factor": 1, "high_freq_factor": 4, "#
        + #""original_max_position_embeddings": 64}}"#)
    guard case .llama3(_, _, _, let orig) = llama3Top.rope.scaling else {
      Issue.record("not llama3")
      return
    }
    #expect(orig == 32)
  }

  @Test("sliding windows: Mistral every layer, Qwen2 from max_window_layers, Qwen2-MoE odd layers, null = none")
  func slidingWindows() throws {
    #expect(try LLMFixture("mistral").configuration().slidingWindows == [5, 5])
    let qwen2 = try LLMFixture("qwen2").configuration()
    #expect(qwen2.slidingWindows == [nil, 6])
    #expect(setting(qwen2, "layer_types")?.source == .derived("use_sliding_window, layers from max_window_layers on"))
    let moe = try llmConfiguration(
      #"{"model_type": "qwen2_moe", "hidden_size": 32, "num_attention_heads": 4, "num_hidden_layers": 4, "num_key_value_heads": 4, "#
        + #""use_sliding_window": true, "sliding_window": 7, "max_window_layers": 3}"#)
    #expect(moe.slidingWindows == [7, nil, 7, nil])
    let off = try llmConfiguration(#"{"model_type": "qwen3", \#(small), "sliding_window": 7}"#)
    #expect(off.slidingWindows == [nil, nil])
    let none = try llmConfiguration(#"{"model_type": "mistral", \#(small), "sliding_window": null}"#)
    #expect(none.slidingWindows == [nil, nil])
    let listed = try llmConfiguration(
      #"{"model_type": "qwen3", \#(small), "use_sliding_window": true, "sliding_window": 3, "#
        + #""layer_types": ["sliding_attention", "full_attention"]}"#)
    #expect(listed.slidingWindows == [3, nil])
  }

  @Test("MoE layer selection: decoder_sparse_step and mlp_only_layers")
  func moeLayers() throws {
    #expect(try LLMFixture("qwen2_moe").configuration().mixtureOfExperts?.sparseLayers == [true, false])
    #expect(try LLMFixture("qwen3_moe").configuration().mixtureOfExperts?.sparseLayers == [false, true])
    let alias = try llmConfiguration(
      #"{"model_type": "qwen3_moe", \#(small), "num_local_experts": 6, "num_experts_per_tok": 2}"#)
    #expect(alias.mixtureOfExperts?.expertCount == 6)
    expectConfigError(
      #"{"model_type": "mixtral", \#(small), "num_local_experts": 4, "num_experts": 5}"#, .invalidModel,
      mentions: ["num_local_experts", "num_experts"])
  }

  @Test("refused by name: model_type, computation-changing keys, RoPE types, activations, head counts")
  func refusals() throws {
    expectConfigError(#"{"model_type": "gpt2", \#(small)}"#, .unsupported, mentions: ["model_type", "gpt2", "llama"])
    expectConfigError(
      #"{"model_type": "llama", \#(small), "final_logit_softcapping": 30.0}"#, .unsupported,
      mentions: ["final_logit_softcapping"])
    let accepted = try llmConfiguration(
      #"{"model_type": "llama", \#(small), "final_logit_softcapping": 30.0}"#, ignoring: ["final_logit_softcapping"])
    #expect(accepted.notes.contains { $0.hasPrefix("final_logit_softcapping") })
    expectConfigError(
      #"{"model_type": "llama", \#(small), "quantization_config": {"quant_method": "gptq"}}"#, .unsupported,
      mentions: ["quantization_config"])
    expectConfigError(
      #"{"model_type": "llama", \#(small), "rope_scaling": {"type": "longrope", "short_factor": [1], "#
        + #""long_factor": [1]}}"#, .unsupported, mentions: ["rope_scaling.type", "longrope"])
    expectConfigError(
      #"{"model_type": "llama", \#(small), "rope_scaling": {"rope_type": "linear"}}"#, .invalidModel,
      mentions: ["rope_scaling", "factor"])
    expectConfigError(
      #"{"model_type": "llama", \#(small), "partial_rotary_factor": 0.5, "rope_scaling": {"rope_type": "linear", "#
        + #""factor": 2}}"#, .unsupported, mentions: ["partial_rotary_factor"])
    expectConfigError(
      #"{"model_type": "llama", \#(small), "hidden_act": "relu"}"#, .unsupported, mentions: ["hidden_act", "relu"])
    expectConfigError(
      #"{"model_type": "llama", "hidden_size": 32, "num_attention_heads": 4, "num_key_value_heads": 3}"#, .invalidModel,
      mentions: ["num_key_value_heads", "num_attention_heads"])
    expectConfigError(
      #"{"model_type": "mistral", "hidden_size": 30, "num_attention_heads": 4, "num_key_value_heads": 4}"#,
      .invalidModel,
      mentions: ["num_attention_heads", "hidden_size", "head_dim"])
    expectConfigError(
      #"{"model_type": "llama", "hidden_size": 30, "num_attention_heads": 4, "head_dim": 8}"#, .invalidModel,
      mentions: ["LlamaConfig"])
    expectConfigError(
      #"{"model_type": "qwen2_moe", \#(small), "num_experts": 2, "num_experts_per_tok": 3}"#, .invalidModel,
      mentions: ["num_experts_per_tok"])
    expectConfigError(
      #"{"model_type": "qwen2", \#(small), "layer_types": ["full_attention", "chunked_attention"]}"#, .unsupported,
      mentions: ["layer_types[1]", "chunked_attention"])
    expectConfigError(
      #"{"model_type": "llama", \#(small), "vocab_size": "96"}"#, .invalidModel, mentions: ["vocab_size"])
    expectConfigError(
      #"{"model_type": "llama", \#(small), "rms_norm_eps": 0}"#, .invalidModel, mentions: ["rms_norm_eps"])
    expectConfigError(#"{"hidden_size": 32}"#, .invalidModel, mentions: ["model_type"])
  }

  @Test("inert keys pass silently, unknown keys become notes, keys of other families are noted")
  func keyClasses() throws {
    let c = try llmConfiguration(
      #"{"model_type": "llama", \#(small), "torch_dtype": "bfloat16", "bos_token_id": 1, "use_cache": true, "#
        + #""my_custom_flag": 3, "sliding_window": 4096}"#)
    #expect(c.notes.count == 2)
    #expect(c.notes.contains { $0.hasPrefix("my_custom_flag is ignored") })
    #expect(c.notes.contains { $0.hasPrefix("sliding_window is ignored") })
    #expect(c.slidingWindows == [nil, nil])
  }
}
