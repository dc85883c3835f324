import GraftCore

extension VisionTransformer {
  /// What the checkpoint's metadata says about the architecture, in timm's argument names, with where each value
  /// came from.
  ///
  /// Three tiers, consulted in order: values stated directly (flat keys, `timm_args`, `model_args`, a training
  /// run's `args`, a Hugging Face `config.json`); values implied by a named timm architecture (`architecture`,
  /// `args.model`); timm's constructor defaults, only when a source gives the complete constructor arguments
  /// (`timm_args`, or a named architecture). Two direct sources that disagree are an error.
  struct ArchitectureHints {
    struct Hint {
      var value: JSONValue
      var source: String
    }

    private(set) var direct: [String: [Hint]] = [:]
    private(set) var named: [String: [Hint]] = [:]
    private(set) var defaultsSource: String?
    /// Architectures named by the metadata, for refusals of families the engine does not implement.
    private(set) var architectureNames: [String] = []

    /// Metadata keys accepted for each timm argument.
    static let aliases: [String: String] = [
      "num_heads": "num_heads", "heads": "num_heads", "graft.vit.num_heads": "num_heads",
      "num_attention_heads": "num_heads", "global_pool": "global_pool", "gp": "global_pool",
      "pool_include_prefix": "pool_include_prefix", "fc_norm": "fc_norm", "act_layer": "act_layer",
      "activation": "act_layer", "hidden_act": "act_layer", "norm_layer": "norm_layer", "norm_eps": "norm_eps",
      "layer_norm_eps": "norm_eps", "mlp_layer": "mlp_layer", "img_size": "img_size", "image_size": "img_size",
      "input_size": "img_size", "no_embed_class": "no_embed_class", "class_token": "class_token",
      "reg_tokens": "reg_tokens", "embed_dim": "embed_dim", "hidden_size": "embed_dim", "depth": "depth",
      "num_hidden_layers": "depth", "num_classes": "num_classes", "patch_size": "patch_size", "in_chans": "in_chans",
      "num_channels": "in_chans", "qk_norm": "qk_norm", "block_fn": "block_fn", "attn_layer": "attn_layer",
      "pos_embed": "pos_embed", "dynamic_img_size": "dynamic_img_size", "dynamic_img_pad": "dynamic_img_pad",
      "use_rot_pos_emb": "use_rot_pos_emb",
    ]

    /// timm `VisionTransformer`'s defaults for the arguments the tensors cannot show.
    static let timmDefaults: [String: JSONValue] = [
      "num_heads": 12, "global_pool": "token", "pool_include_prefix": false, "act_layer": "gelu",
      "norm_layer": "layernorm", "norm_eps": 1e-6, "mlp_layer": "mlp", "img_size": 224, "no_embed_class": false,
      "block_fn": "block", "attn_layer": "attention",
    ]

    /// Collects hints from the checkpoint's own metadata, then from `options.architectureMetadata`.
    init(table metadata: JSONObject, options: Options) throws(GraftError) {
      for (key, value) in metadata {
        if key.hasPrefix("checkpoint.args.") {
          absorb(String(key.dropFirst(16)), value, source: "checkpoint args", arguments: true)
        } else if key == "checkpoint.arch" {
          absorb("arch", value, source: "checkpoint", arguments: false)
        } else {
          absorb(key, value, source: "", arguments: false)
        }
      }
      if let object = options.architectureMetadata {
        let source = options.architectureMetadataSource
        if object["model_type"]?.stringValue == "vit" {
          // Hugging Face `ViTForImageClassification` classifies the class token.
          add("global_pool", "token", source: Self.join(source, "model_type=vit"))
        }
        for (key, value) in object { absorb(key, value, source: source, arguments: false) }
      }
    }

    private mutating func absorb(_ key: String, _ value: JSONValue, source: String, arguments: Bool) {
      switch key {
      case "timm_args":
        guard let object = Self.object(value) else { return }
        for (k, v) in object { absorb(k, v, source: Self.join(source, "timm_args"), arguments: true) }
        if defaultsSource == nil { defaultsSource = Self.join(source, "timm_args") }
      case "model_args", "model_kwargs", "args":
        guard let object = Self.object(value) else { return }
        for (k, v) in object { absorb(k, v, source: Self.join(source, key), arguments: true) }
      case "pretrained_cfg", "default_cfg":
        guard let object = value.objectValue else { return }
        for k in ["input_size", "num_classes", "architecture"] {
          if let v = object[k] { absorb(k, v, source: Self.join(source, key), arguments: false) }
        }
      case "architecture", "arch":
        addArchitecture(value, source: Self.join(source, key))
      case "model" where arguments:
        addArchitecture(value, source: Self.join(source, "model"))
      default:
        guard let canonical = Self.aliases[key], value != .null else { return }
        add(canonical, value, source: Self.join(source, key))
      }
    }

    private mutating func add(_ key: String, _ value: JSONValue, source: String) {
      direct[key, default: []].append(Hint(value: value, source: source))
    }

    private mutating func addArchitecture(_ value: JSONValue, source: String) {
      guard let full = value.stringValue else { return }
      let name = String(full.prefix { $0 != "." })
      architectureNames.append(name)
      guard let arguments = VisionTransformer.timmArchitecture(named: name) else { return }
      for (k, v) in arguments {
        named[k, default: []].append(Hint(value: v, source: "timm \(name) (\(source))"))
      }
      if defaultsSource == nil { defaultsSource = "timm \(name) (\(source))" }
    }

    /// `source key`, or `key` for the checkpoint's own metadata (whose source is empty).
    private static func join(_ source: String, _ key: String) -> String { source.isEmpty ? key : source + " " + key }

    private static func object(_ value: JSONValue) -> JSONObject? {
      if let o = value.objectValue { return o }
      guard let text = value.stringValue, let parsed = try? JSONParser.parse(text) else { return nil }
      return parsed.objectValue
    }

    /// The value of timm argument `key`, parsed by `parse`, with its source; `nil` when no tier has it.
    ///
    /// - Throws: `invalidModel` naming `option` when a value does not parse or two direct sources disagree.
    func lookup<T: Sendable & Equatable>(
      _ key: String, option: String, expected: String, _ parse: (JSONValue) -> T?
    ) throws(GraftError) -> Configured<T>? {
      for tier in [direct[key] ?? [], named[key] ?? []] where !tier.isEmpty {
        var found: (T, Hint)?
        for hint in tier {
          guard let v = parse(hint.value) else {
            throw GraftError(
              .invalidModel, "metadata \(hint.source) is \(hint.value.serialized()); expected \(expected)"
            ).resolved(by: option)
          }
          if let (first, firstHint) = found, first != v {
            throw GraftError(
              .invalidModel,
              "the metadata disagree on \(key): \(firstHint.source) is \(firstHint.value.serialized()), "
                + "\(hint.source) is \(hint.value.serialized()); pass \(option) to decide"
            ).resolved(by: option)
          }
          if found == nil { found = (v, hint) }
        }
        if let (v, hint) = found { return Configured(v, .metadata(hint.source)) }
      }
      if let defaultsSource, let d = Self.timmDefaults[key], let v = parse(d) {
        return Configured(v, .metadata("timm default (complete arguments: \(defaultsSource))"))
      }
      return nil
    }

    // MARK: - Value parsers (safetensors metadata holds strings; JSON sources hold numbers and arrays)

    static func int(_ v: JSONValue) -> Int? { v.intValue ?? v.stringValue.flatMap { Int($0) } }

    static func double(_ v: JSONValue) -> Double? { v.doubleValue ?? v.stringValue.flatMap { Double($0) } }

    static func bool(_ v: JSONValue) -> Bool? {
      if let b = v.boolValue { return b }
      switch v.stringValue?.lowercased() {
      case "true", "1": return true
      case "false", "0": return false
      default: return v.intValue.flatMap { $0 == 0 ? false : ($0 == 1 ? true : nil) }
      }
    }

    static func string(_ v: JSONValue) -> String? { v.stringValue }

    /// `[height, width]` from `224`, `[224, 224]`, `[3, 224, 224]` (`input_size`), `"224"`, `"[224, 224]"`,
    /// `"224x224"`.
    static func size(_ v: JSONValue) -> [Int]? {
      if let i = v.intValue { return i > 0 ? [i, i] : nil }
      if let a = v.arrayValue {
        let ints = a.compactMap(\.intValue)
        guard ints.count == a.count, ints.allSatisfy({ $0 > 0 }) else { return nil }
        switch ints.count {
        case 1: return [ints[0], ints[0]]
        case 2: return ints
        case 3: return Array(ints.dropFirst())
        default: return nil
        }
      }
      guard let s = v.stringValue else { return nil }
      if let parsed = try? JSONParser.parse(s), parsed.stringValue == nil { return size(parsed) }
      let parts = s.split(separator: "x").compactMap { Int($0) }
      return parts.count == 2 && parts.allSatisfy({ $0 > 0 }) ? parts : nil
    }
  }
}
