import GraftCore

extension LLMConfiguration {
  /// Keys that do not change an inference forward pass: metadata, token ids, generation defaults of old configs,
  /// dropout and router losses (training only), output switches, `pretraining_tp` (a v4 sharding of the same sums).
  public static let inertKeys: Set<String> = [
    "architectures", "transformers_version", "_name_or_path", "name_or_path", "dtype", "torch_dtype", "use_cache",
    "initializer_range", "attention_dropout", "bos_token_id", "eos_token_id", "pad_token_id", "sep_token_id",
    "decoder_start_token_id", "output_hidden_states", "output_attentions", "return_dict", "torchscript",
    "use_bfloat16", "tf_legacy_loss", "chunk_size_feed_forward", "is_encoder_decoder", "is_decoder", "id2label",
    "label2id", "num_labels", "problem_type", "finetuning_task", "tokenizer_class", "prefix", "task_specific_params",
    "output_router_logits", "router_aux_loss_coef", "router_jitter_noise", "router_z_loss_coef", "pretraining_tp",
    "tie_encoder_decoder", "cross_attention_hidden_size", "max_length", "min_length", "do_sample", "early_stopping",
    "num_beams", "num_beam_groups", "diversity_penalty", "temperature", "top_k", "top_p", "typical_p",
    "repetition_penalty", "length_penalty", "no_repeat_ngram_size", "encoder_no_repeat_ngram_size", "bad_words_ids",
    "num_return_sequences", "output_scores", "return_dict_in_generate", "forced_bos_token_id", "forced_eos_token_id",
    "remove_invalid_values", "exponential_decay_length_penalty", "suppress_tokens", "begin_suppress_tokens",
    "keys_to_ignore_at_inference", "_attn_implementation_autoset", "attn_implementation", "experts_implementation",
    "gradient_checkpointing", "use_return_dict", "model_type", "pruned_heads", "add_cross_attention",
  ]

  /// Keys that change the computation in other architectures.
  ///
  /// Soft-capping, multipliers, MLA, shared experts, parallel residuals, quantisation: transformers' seven families
  /// ignore them, but their presence says the checkpoint was made for a computation the engine would not reproduce,
  /// so they are refused by name.
  public static let foreignComputationKeys: Set<String> = [
    "quantization_config", "attn_logit_softcapping", "final_logit_softcapping", "query_pre_attn_scalar",
    "logit_scale", "logits_scaling", "embedding_multiplier", "embedding_multiplier_scale", "residual_multiplier",
    "attention_multiplier", "output_multiplier_scale", "scale_emb", "scale_depth", "dim_model_base", "use_qk_norm",
    "qk_layernorm", "clip_qkv", "use_parallel_residual", "parallel_attn", "rotary_pct", "rotary_emb_base",
    "rope_interleave", "layer_norm_eps", "layer_norm_epsilon", "n_shared_experts", "num_shared_experts",
    "moe_layer_freq", "first_k_dense_replace", "routed_scaling_factor", "topk_method", "scoring_func", "n_group",
    "topk_group", "kv_lora_rank", "q_lora_rank", "qk_rope_head_dim", "v_head_dim", "qk_nope_head_dim",
    "sliding_window_pattern", "no_rope_layers", "no_rope_layer_interval", "attention_chunk_size", "use_post_norm",
    "mup_width_multiplier", "alibi", "position_embedding_type", "use_alibi",
  ]

  /// Classifies every key the family's parser did not read.
  ///
  /// The rule: inert keys (``inertKeys``) are accepted silently, except `pruned_heads` that is not empty and
  /// `add_cross_attention: true`, which are refused; keys in ``foreignComputationKeys`` are refused unless the
  /// caller lists them in ``ParseOptions/ignoringKeys`` (then noted); every other key is noted as ignored, because
  /// transformers' configuration keeps it as an attribute that no code of this family reads, so ignoring it is
  /// exactly what transformers computes.
  static func classifyRemainingKeys(
    json: JSONObject, read: Set<String>, family: Family, options: ParseOptions
  ) throws(GraftError) -> [String] {
    var notes: [String] = []
    for (key, value) in json where !read.contains(key) {
      if key == "pruned_heads", let o = value.objectValue, !o.isEmpty {
        throw GraftError(
          .unsupported, "config.json pruned_heads is not empty; pruned attention heads are not implemented")
      }
      if key == "add_cross_attention", value.boolValue == true {
        throw GraftError(.unsupported, "config.json add_cross_attention is true; cross-attention is not implemented")
      }
      if inertKeys.contains(key) { continue }
      if foreignComputationKeys.contains(key) {
        if value == .null || value == .bool(false) {
          notes.append("\(key) is \(value == .null ? "null" : "false"); nothing to apply")
          continue
        }
        guard options.ignoringKeys.contains(key) else {
          throw GraftError(
            .unsupported,
            "config.json key '\(key)' changes the computation in other architectures and is not implemented for "
              + "\(family.rawValue) (transformers' \(family.configurationClass) does not read it); accept ignoring it "
              + "explicitly to run anyway"
          ).resolved(by: "ignoringKeys")
        }
        notes.append("\(key) is ignored as asked; it is not part of transformers' \(family.rawValue) computation")
        continue
      }
      notes.append("\(key) is ignored: transformers' \(family.rawValue) model does not read it")
    }
    return notes
  }
}
