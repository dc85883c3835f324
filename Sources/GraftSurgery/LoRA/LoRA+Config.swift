public import GraftCore

extension LoRA.AdapterConfig {
  /// Fields of `adapter_config.json` that change what the saved tensors mean and that this merge does not
  /// implement: each is refused by name when set.
  static let refusedFields: [(key: String, what: String)] = [
    ("lora_bias", "LoRA bias terms (lora_bias = true)"),
    ("layer_replication", "layer replication"),
    ("target_parameters", "LoRA on bare parameters (target_parameters)"),
    ("use_qalora", "QA-LoRA (use_qalora)"),
    ("use_bdlora", "BD-LoRA (use_bdlora)"),
    ("trainable_token_indices", "trainable tokens (trainable_token_indices)"),
    ("alora_invocation_tokens", "activated LoRA (alora_invocation_tokens)"),
    ("arrow_config", "Arrow routing (arrow_config)"),
    ("megatron_config", "Megatron-parallel LoRA (megatron_config)"),
  ]

  /// Parses peft's `adapter_config.json`.
  ///
  /// - Throws: `unsupported` naming the PEFT type or field when the adapter is not a plain LoRA/DoRA one;
  ///   `invalidJSON` when a field has the wrong type.
  public init(json: JSONValue) throws(GraftError) {
    guard let o = json.objectValue else {
      throw GraftError(.invalidJSON, "adapter_config.json holds \(json.kindDescription); expected an object")
    }
    let type = o["peft_type"]?.stringValue ?? "LORA"
    guard type == "LORA" else {
      throw GraftError(.unsupported, "peft_type \(type) is not merged: only LORA adapters (with or without DoRA) are")
    }
    for (key, what) in Self.refusedFields {
      switch o[key] {
      case nil, .null?, .bool(false)?: continue
      case .array(let a)? where a.isEmpty: continue
      case .object(let d)? where d.isEmpty: continue
      default: throw GraftError(.unsupported, "\(what) is not merged yet; the adapter sets '\(key)'")
      }
    }
    guard let r = o["r"]?.intValue, r > 0 else {
      throw GraftError(.invalidJSON, "adapter_config.json has no positive integer 'r'")
    }
    let alpha = o["lora_alpha"]?.doubleValue ?? 8
    self.init(r: r, alpha: alpha)
    useRSLoRA = o["use_rslora"]?.boolValue ?? false
    fanInFanOut = o["fan_in_fan_out"]?.boolValue ?? false
    useDoRA = o["use_dora"]?.boolValue ?? false
    targetModules = try LoRA.ModuleSelector(json: o["target_modules"], key: "target_modules")
    excludeModules = try LoRA.ModuleSelector(json: o["exclude_modules"], key: "exclude_modules")
    if case .array(let a)? = o["modules_to_save"] { modulesToSave = a.compactMap(\.stringValue) }
    bias = o["bias"]?.stringValue ?? "none"
    for (key, value) in o["rank_pattern"]?.objectValue ?? JSONObject() {
      guard let v = value.intValue, v > 0 else {
        throw GraftError(.invalidJSON, "rank_pattern['\(key)'] is \(value.kindDescription); expected a positive rank")
      }
      rankPattern.append((key, v))
    }
    for (key, value) in o["alpha_pattern"]?.objectValue ?? JSONObject() {
      guard let v = value.doubleValue else {
        throw GraftError(.invalidJSON, "alpha_pattern['\(key)'] is \(value.kindDescription); expected a number")
      }
      alphaPattern.append((key, v))
    }
  }

  /// The configuration as peft writes it (the fields this merge and peft's loader read).
  public var json: JSONValue {
    var o = JSONObject()
    o["peft_type"] = "LORA"
    o["r"] = .integer(r)
    o["lora_alpha"] = alpha == alpha.rounded() && abs(alpha) < 1e15 ? .integer(Int(alpha)) : .double(alpha)
    o["target_modules"] = targetModules?.json ?? .null
    o["exclude_modules"] = excludeModules?.json ?? .null
    o["fan_in_fan_out"] = .bool(fanInFanOut)
    o["bias"] = .string(bias)
    o["use_rslora"] = .bool(useRSLoRA)
    o["use_dora"] = .bool(useDoRA)
    o["modules_to_save"] = modulesToSave.isEmpty ? .null : .array(modulesToSave.map(JSONValue.string))
    o["rank_pattern"] = .object(JSONObject(rankPattern.map { ($0.key, JSONValue.integer($0.value)) }))
    o["alpha_pattern"] = .object(JSONObject(alphaPattern.map { ($0.key, JSONValue.double($0.value)) }))
    o["lora_dropout"] = .double(0)
    o["init_lora_weights"] = .bool(true)
    o["inference_mode"] = .bool(true)
    o["task_type"] = .null
    o["base_model_name_or_path"] = .null
    return .object(o)
  }
}
