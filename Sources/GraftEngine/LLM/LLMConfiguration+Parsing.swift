public import GraftCore

extension LLMConfiguration {
  /// Parses a config.json object with transformers 5's rules for its `model_type`.
  ///
  /// Keys are handled in four classes (the rule is documented in ``LLMConfiguration/classifyRemainingKeys``):
  /// keys the family's transformers code reads are parsed, and values the engine does not implement are refused by
  /// name (`hidden_act`, RoPE types, `partial_rotary_factor`); keys known to be inert at inference (metadata, token
  /// ids, training-only settings) are accepted; keys that change the computation of *other* architectures are
  /// refused unless listed in ``ParseOptions/ignoringKeys``; any other key is ignored with a note, since
  /// transformers ignores it too.
  ///
  /// - Throws: `unsupported` for an unknown `model_type` or an unimplemented value, naming the key; `invalidModel`
  ///   for inconsistent values (heads that do not divide, top-k above the expert count, a missing required key).
  public init(json: JSONObject, options: ParseOptions = ParseOptions()) throws(GraftError) {
    guard let typeValue = json["model_type"] else {
      throw GraftError(.invalidModel, "config.json has no 'model_type'; expected one of \(Self.supportedTypes)")
    }
    guard let type = typeValue.stringValue else {
      throw ConfigReader.wrongKind("model_type", typeValue, expected: "a string")
    }
    guard let family = Family(rawValue: type) else {
      throw GraftError(
        .unsupported,
        "config.json model_type '\(type)' is not a family the engine runs; supported: \(Self.supportedTypes)")
    }
    let d = FamilyDefaults(family)
    var r = ConfigReader(json: json, owner: family.configurationClass)
    r.read.insert("model_type")
    r.record("model_type", type, .key("model_type"))
    var architectures: [String] = []
    if let a = r.present("architectures") {
      guard let items = a.arrayValue, items.allSatisfy({ $0.stringValue != nil }) else {
        throw ConfigReader.wrongKind("architectures", a, expected: "a list of class names")
      }
      architectures = items.compactMap(\.stringValue)
      r.record("architectures", architectures.joined(separator: ", "), .key("architectures"))
    }

    let vocabulary = try r.int("vocab_size", default: d.vocabularySize)
    let hidden = try r.int("hidden_size", default: d.hiddenSize)
    let intermediate = try r.int("intermediate_size", default: d.intermediateSize)
    let layers = try r.int("num_hidden_layers", default: d.layerCount)
    let heads = try r.int("num_attention_heads", default: d.attentionHeads)
    let kvHeads: Int
    if let v = r.present("num_key_value_heads") {
      kvHeads = try ConfigReader.integer("num_key_value_heads", v, minimum: 1)
      r.record("num_key_value_heads", "\(kvHeads)", .key("num_key_value_heads"))
    } else if r.json["num_key_value_heads"] == nil, let fallback = d.keyValueHeads {
      kvHeads = fallback
      r.record("num_key_value_heads", "\(kvHeads)", .familyDefault(r.owner))
    } else {
      kvHeads = heads
      r.record("num_key_value_heads", "\(kvHeads)", .derived("num_attention_heads"))
    }
    guard heads % kvHeads == 0 else {
      throw GraftError(
        .invalidModel,
        "config.json num_key_value_heads (\(kvHeads)) does not divide num_attention_heads (\(heads)); "
          + "grouped-query attention needs whole groups")
    }
    let headDim = try Self.parseHeadDim(&r, family: family, defaults: d, hidden: hidden, heads: heads)
    if family == .llama && hidden % heads != 0 {
      throw GraftError(
        .invalidModel,
        "config.json hidden_size (\(hidden)) is not a multiple of num_attention_heads (\(heads)); transformers' "
          + "LlamaConfig refuses it")
    }
    guard headDim % 2 == 0 else {
      throw GraftError(.invalidModel, "head_dim is \(headDim); rotary embeddings need an even head dimension")
    }
    let maxPositions = try r.int("max_position_embeddings", default: d.maxPositionEmbeddings)
    let eps = try r.double("rms_norm_eps", default: d.rmsNormEpsilon)
    guard eps > 0 else { throw GraftError(.invalidModel, "config.json rms_norm_eps is \(eps); expected > 0") }
    let act = try r.string("hidden_act", default: "silu")
    let activation: Activation
    switch act {
    case "silu", "swish": activation = .silu
    case "gelu": activation = .gelu
    case "gelu_pytorch_tanh", "gelu_new": activation = .geluTanh
    default:
      throw GraftError(
        .unsupported,
        "config.json hidden_act '\(act)' is not implemented; the engine runs silu, swish, gelu, gelu_new and "
          + "gelu_pytorch_tanh")
    }
    let tie = try r.bool("tie_word_embeddings", default: false)

    var qkvBias = false
    var outputBias = false
    var mlpBias = false
    switch family {
    case .llama:
      qkvBias = try r.bool("attention_bias", default: false)
      outputBias = qkvBias
      mlpBias = try r.bool("mlp_bias", default: false)
    case .qwen3, .qwen3MoE:
      qkvBias = try r.bool("attention_bias", default: false)
      outputBias = qkvBias
    case .qwen2:
      qkvBias = true
      r.record("qkv bias", "true", .familyDefault("Qwen2Attention (always)"))
    case .qwen2MoE:
      qkvBias = try r.bool("qkv_bias", default: true)
    case .mistral, .mixtral:
      break
    }
    let queryKeyNorm = family == .qwen3 || family == .qwen3MoE
    if queryKeyNorm { r.record("q_norm/k_norm", "true", .familyDefault("\(family.rawValue) attention (always)")) }

    let rope = try Self.parseRoPE(&r, defaultTheta: d.ropeTheta, maxPositions: maxPositions, headDim: headDim)
    let windows = try Self.parseSlidingWindows(&r, family: family, layers: layers)
    let moe = try Self.parseMixtureOfExperts(&r, family: family, layers: layers, intermediate: intermediate)

    self.init(
      family: family, architectures: architectures, vocabularySize: vocabulary, hiddenSize: hidden,
      intermediateSize: intermediate, layerCount: layers, attentionHeads: heads, keyValueHeads: kvHeads,
      headDim: headDim, maxPositionEmbeddings: maxPositions, rmsNormEpsilon: eps, activation: activation,
      tieWordEmbeddings: tie, qkvBias: qkvBias, outputBias: outputBias, mlpBias: mlpBias,
      queryKeyNorm: queryKeyNorm, rope: rope, slidingWindows: windows, mixtureOfExperts: moe, settings: [],
      notes: [])
    notes = r.notes + (try Self.classifyRemainingKeys(json: json, read: r.read, family: family, options: options))
    settings = r.settings
  }

  /// The `model_type` values the engine runs.
  public static var supportedTypes: String { Family.allCases.map(\.rawValue).joined(separator: ", ") }

  /// `head_dim`: Llama/Mistral/Mixtral fall back to hidden/heads when absent or null; Qwen3 defaults to 128; Qwen2,
  /// Qwen2-MoE and Qwen3-MoE have no such field and read it with `getattr(config, "head_dim", hidden/heads)`.
  static func parseHeadDim(
    _ r: inout ConfigReader, family: Family, defaults d: FamilyDefaults, hidden: Int, heads: Int
  ) throws(GraftError) -> Int {
    if let v = r.present("head_dim") {
      let n = try ConfigReader.integer("head_dim", v, minimum: 1)
      r.record("head_dim", "\(n)", .key("head_dim"))
      return n
    }
    let isNull = r.json["head_dim"] == .null
    switch family {
    case .llama, .mistral, .mixtral:
      break
    case .qwen3:
      if isNull { throw GraftError(.invalidModel, "config.json head_dim is null; Qwen3 needs an integer") }
      if let fallback = d.headDim {
        r.record("head_dim", "\(fallback)", .familyDefault(r.owner))
        return fallback
      }
    case .qwen2, .qwen2MoE, .qwen3MoE:
      if isNull {
        throw GraftError(
          .invalidModel, "config.json head_dim is null; transformers' \(family.rawValue) attention needs an integer")
      }
    }
    guard hidden % heads == 0 else {
      throw GraftError(
        .invalidModel,
        "config.json has no head_dim and num_attention_heads (\(heads)) does not divide hidden_size (\(hidden)); "
          + "set head_dim")
    }
    r.record("head_dim", "\(hidden / heads)", .derived("hidden_size / num_attention_heads"))
    return hidden / heads
  }

  /// Per-layer sliding windows with each family's rule (reference §1.4).
  static func parseSlidingWindows(
    _ r: inout ConfigReader, family: Family, layers: Int
  ) throws(GraftError) -> [Int?] {
    func windowValue(default fallback: Int?) throws(GraftError) -> Int? {
      guard let v = r.value("sliding_window") else {
        r.record("sliding_window", fallback.map { "\($0)" } ?? "none", .familyDefault(r.owner))
        return fallback
      }
      if v == .null {
        r.record("sliding_window", "none", .key("sliding_window"))
        return nil
      }
      let n = try ConfigReader.integer("sliding_window", v, minimum: 0)
      r.record("sliding_window", "\(n)", .key("sliding_window"))
      return n
    }
    switch family {
    case .llama:
      return Array(repeating: nil, count: layers)
    case .mistral, .mixtral:
      let w = try windowValue(default: family == .mistral ? 4096 : nil)
      if w == 0 { throw GraftError(.invalidModel, "config.json sliding_window is 0; every key would be masked") }
      return Array(repeating: w, count: layers)
    case .qwen3MoE:
      let use = try r.bool("use_sliding_window", default: false)
      let w = try windowValue(default: 4096)
      guard use, let w else { return Array(repeating: nil, count: layers) }
      if w == 0 { throw GraftError(.invalidModel, "config.json sliding_window is 0; every key would be masked") }
      return Array(repeating: w, count: layers)
    case .qwen2, .qwen3, .qwen2MoE:
      let use = try r.bool("use_sliding_window", default: false)
      let w = try windowValue(default: 4096)
      let maxWindowLayers = try r.int("max_window_layers", default: 28, minimum: 0)
      let types = try layerTypes(&r, layers: layers)
      let derived: [Bool] = (0..<layers).map { i in
        family == .qwen2MoE ? (i + 1) % 2 == 1 && i < maxWindowLayers && use : use && w != nil && i >= maxWindowLayers
      }
      let sliding = types ?? derived
      if types == nil {
        r.record(
          "layer_types", sliding.map { $0 ? "sliding" : "full" }.joined(separator: ","),
          .derived(
            family == .qwen2MoE
              ? "use_sliding_window, odd layers below max_window_layers"
              : "use_sliding_window, layers from max_window_layers on"))
      }
      var windows: [Int?] = []
      for (i, s) in sliding.enumerated() {
        guard s else {
          windows.append(nil)
          continue
        }
        guard use, let w, w > 0 else {
          throw GraftError(
            .invalidModel,
            "config.json layer_types marks layer \(i) as sliding_attention, but use_sliding_window is false or "
              + "sliding_window is not positive; transformers would build no window for it")
        }
        windows.append(w)
      }
      return windows
    }
  }

  /// `layer_types` as sliding flags, `nil` when absent or null.
  static func layerTypes(_ r: inout ConfigReader, layers: Int) throws(GraftError) -> [Bool]? {
    guard let v = r.present("layer_types") else { return nil }
    guard let items = v.arrayValue, items.count == layers else {
      throw GraftError(
        .invalidModel,
        "config.json layer_types must be a list of \(layers) entries (num_hidden_layers), not \(v.kindDescription)"
          + (v.arrayValue.map { " of \($0.count)" } ?? ""))
    }
    var out: [Bool] = []
    for (i, item) in items.enumerated() {
      switch item.stringValue {
      case "full_attention": out.append(false)
      case "sliding_attention": out.append(true)
      default:
        throw GraftError(
          .unsupported,
          "config.json layer_types[\(i)] is \(item.stringValue.map { "'\($0)'" } ?? item.kindDescription); "
            + "the engine runs full_attention and sliding_attention")
      }
    }
    r.record("layer_types", out.map { $0 ? "sliding" : "full" }.joined(separator: ","), .key("layer_types"))
    return out
  }

  /// The MoE keys of Mixtral, Qwen2-MoE and Qwen3-MoE.
  static func parseMixtureOfExperts(
    _ r: inout ConfigReader, family: Family, layers: Int, intermediate: Int
  ) throws(GraftError) -> MixtureOfExperts? {
    guard family.isMixtureOfExperts else { return nil }
    // Mixtral and Qwen3-MoE map `num_experts` onto `num_local_experts` (attribute_map); Qwen2-MoE reads num_experts.
    let names = family == .qwen2MoE ? ["num_experts"] : ["num_local_experts", "num_experts"]
    var count: Int?
    var countKey = ""
    for key in names {
      guard let v = r.present(key) else { continue }
      let n = try ConfigReader.integer(key, v, minimum: 0)
      if let count, count != n {
        throw GraftError(
          .invalidModel, "config.json sets \(countKey) = \(count) and \(key) = \(n), which transformers aliases")
      }
      count = n
      countKey = key
    }
    let expertCount = count ?? (family == .mixtral ? 8 : family == .qwen2MoE ? 60 : 128)
    r.record(
      names[0], "\(expertCount)", count == nil ? .familyDefault(r.owner) : .key(countKey))
    let topK = try r.int(
      "num_experts_per_tok", default: family == .mixtral ? 2 : family == .qwen2MoE ? 4 : 8)
    if expertCount > 0 && topK > expertCount {
      throw GraftError(
        .invalidModel, "config.json num_experts_per_tok (\(topK)) exceeds the expert count \(expertCount)")
    }
    if family == .mixtral {
      r.record("norm_topk_prob", "true", .familyDefault("MixtralTopKRouter (always renormalises)"))
      r.record("expert width", "\(intermediate)", .derived("intermediate_size"))
      return MixtureOfExperts(
        expertCount: expertCount, topK: topK, normalizeTopK: true, expertIntermediateSize: intermediate,
        sharedExpertIntermediateSize: nil, sparseLayers: Array(repeating: expertCount > 0, count: layers))
    }
    let normalize = try r.bool("norm_topk_prob", default: false)
    let width = try r.int("moe_intermediate_size", default: family == .qwen2MoE ? 1408 : 768)
    let shared =
      family == .qwen2MoE ? try r.int("shared_expert_intermediate_size", default: 5632, minimum: 0) : nil
    let step = try r.int("decoder_sparse_step", default: 1)
    let dense = Set(try r.integerList("mlp_only_layers", below: layers))
    let sparse = (0..<layers).map { i in !dense.contains(i) && expertCount > 0 && (i + 1) % step == 0 }
    r.record(
      "sparse layers", sparse.enumerated().filter(\.element).map { "\($0.offset)" }.joined(separator: ","),
      .derived("decoder_sparse_step, mlp_only_layers"))
    return MixtureOfExperts(
      expertCount: expertCount, topK: topK, normalizeTopK: normalize, expertIntermediateSize: width,
      sharedExpertIntermediateSize: shared, sparseLayers: sparse)
  }
}
