import GraftCore

extension LLMConfiguration {
  /// RoPE parameters as transformers 5 standardises them (`convert_rope_params_to_dict`, `standardize_rope_params`):
  /// a v4 `rope_scaling` dict wins over `rope_parameters`; `rope_theta` comes from the dict, else the top level, else
  /// the family default; `type` is an alias of `rope_type`; a top-level `original_max_position_embeddings` wins over
  /// the dict's for llama3 and yarn, and `max_position_embeddings` is the fallback.
  static func parseRoPE(
    _ r: inout ConfigReader, defaultTheta: Double, maxPositions: Int, headDim: Int
  ) throws(GraftError) -> RoPE {
    var dict = JSONObject()
    var dictKey = "rope_parameters"
    let scaling = r.present("rope_scaling")
    let parameters = r.present("rope_parameters")
    if let chosen = scaling ?? parameters {
      dictKey = scaling != nil ? "rope_scaling" : "rope_parameters"
      guard let object = chosen.objectValue else {
        throw ConfigReader.wrongKind(dictKey, chosen, expected: "an object of RoPE parameters")
      }
      dict = object
      if scaling != nil && parameters != nil {
        r.notes.append("rope_parameters is ignored: rope_scaling takes precedence, as in transformers")
      }
    }
    if let nested = dict.keys.first(where: { $0 == "full_attention" || $0 == "sliding_attention" }) {
      throw GraftError(
        .unsupported, "config.json \(dictKey).\(nested): per-layer-type RoPE parameters are not implemented")
    }
    func number(_ key: String) throws(GraftError) -> Double? {
      guard let v = dict[key], v != .null else { return nil }
      guard let d = v.doubleValue, d.isFinite else {
        throw ConfigReader.wrongKind("\(dictKey).\(key)", v, expected: "a finite number")
      }
      return d
    }

    let topTheta = r.present("rope_theta")
    let theta: Double
    if let t = try number("rope_theta") {
      theta = t
      r.record("rope_theta", "\(t)", .key("\(dictKey).rope_theta"))
    } else if let v = topTheta {
      guard let t = v.doubleValue, t.isFinite else {
        throw ConfigReader.wrongKind("rope_theta", v, expected: "a number")
      }
      theta = t
      r.record("rope_theta", "\(t)", .key("rope_theta"))
    } else {
      theta = defaultTheta
      r.record("rope_theta", "\(theta)", .familyDefault(r.owner))
    }
    guard theta > 1 else { throw GraftError(.invalidModel, "rope_theta is \(theta); expected a base above 1") }

    var typeKey = "\(dictKey).rope_type"
    var typeValue = dict["rope_type"]
    if typeValue == nil, let alias = dict["type"] {
      typeValue = alias
      typeKey = "\(dictKey).type"
    }
    let type: String
    if let typeValue {
      guard let s = typeValue.stringValue else {
        throw ConfigReader.wrongKind(typeKey, typeValue, expected: "a string")
      }
      type = s
      r.record("rope_type", s, .key(typeKey))
    } else {
      type = "default"
      r.record("rope_type", type, dict.isEmpty ? .familyDefault(r.owner) : .derived("\(dictKey) has no rope_type"))
    }

    let partialTop = r.present("partial_rotary_factor")
    if let p = try number("partial_rotary_factor") ?? partialTop?.doubleValue, p != 1 {
      guard type == "default" else {
        throw GraftError(
          .unsupported,
          "config.json partial_rotary_factor is \(p): partial rotary embeddings are not implemented (transformers' "
            + "\(r.owner) rotates the whole head, so a \(type) RoPE over part of it cannot run)")
      }
      r.notes.append("partial_rotary_factor \(p) is ignored: transformers' default RoPE rotates the whole head")
    }

    func required(_ key: String) throws(GraftError) -> Double {
      guard let v = try number(key) else {
        throw GraftError(.invalidModel, "config.json \(dictKey) of rope_type '\(type)' has no '\(key)'")
      }
      r.record("rope \(key)", "\(v)", .key("\(dictKey).\(key)"))
      return v
    }
    func originalMaxPositions() throws(GraftError) -> Int {
      if let v = r.present("original_max_position_embeddings") {
        let n = try ConfigReader.integer("original_max_position_embeddings", v, minimum: 1)
        r.record("original_max_position_embeddings", "\(n)", .key("original_max_position_embeddings"))
        return n
      }
      if let v = dict["original_max_position_embeddings"], v != .null {
        let key = "\(dictKey).original_max_position_embeddings"
        let n = try ConfigReader.integer(key, v, minimum: 1)
        r.record("original_max_position_embeddings", "\(n)", .key(key))
        return n
      }
      r.record("original_max_position_embeddings", "\(maxPositions)", .derived("max_position_embeddings"))
      return maxPositions
    }

    let result: RoPE.Scaling
    var known: Set<String> = ["rope_type", "type", "rope_theta", "partial_rotary_factor"]
    switch type {
    case "default":
      result = .none
    case "linear":
      known.insert("factor")
      result = .linear(factor: try required("factor"))
    case "dynamic":
      known.insert("factor")
      result = .dynamic(factor: try required("factor"))
    case "llama3":
      known.formUnion(["factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"])
      let factor = try required("factor")
      let low = try required("low_freq_factor")
      let high = try required("high_freq_factor")
      guard high != low else {
        throw GraftError(.invalidModel, "config.json \(dictKey): low_freq_factor equals high_freq_factor (\(low))")
      }
      result = .llama3(
        factor: factor, lowFrequencyFactor: low, highFrequencyFactor: high,
        originalMaxPositions: try originalMaxPositions())
    case "yarn":
      known.formUnion([
        "factor", "original_max_position_embeddings", "attention_factor", "beta_fast", "beta_slow", "mscale",
        "mscale_all_dim", "truncate",
      ])
      result = try parseYarn(
        &r, dict: dict, dictKey: dictKey, original: try originalMaxPositions(), maxPositions: maxPositions)
    default:
      throw GraftError(
        .unsupported,
        "config.json \(typeKey) is '\(type)'; the engine implements the RoPE types default, linear, dynamic, llama3 "
          + "and yarn")
    }
    for key in dict.keys where !known.contains(key) {
      r.notes.append("\(dictKey).\(key) is ignored: transformers' \(type) RoPE does not read it")
    }
    return RoPE(theta: theta, scaling: result)
  }

  /// yarn's parameters with transformers' defaults (`_compute_yarn_parameters`).
  static func parseYarn(
    _ r: inout ConfigReader, dict: JSONObject, dictKey: String, original: Int, maxPositions: Int
  ) throws(GraftError) -> RoPE.Scaling {
    func number(_ key: String) throws(GraftError) -> Double? {
      guard let v = dict[key], v != .null else { return nil }
      guard let d = v.doubleValue, d.isFinite else {
        throw ConfigReader.wrongKind("\(dictKey).\(key)", v, expected: "a finite number")
      }
      r.record("rope \(key)", "\(d)", .key("\(dictKey).\(key)"))
      return d
    }
    var factor = try number("factor") ?? 0
    if dict["factor"] == nil || dict["factor"] == .null {
      factor = Double(maxPositions) / Double(original)
      r.record("rope factor", "\(factor)", .derived("max_position_embeddings / original_max_position_embeddings"))
    }
    func mscale(_ scale: Double, _ m: Double) -> Double { scale <= 1 ? 1 : 0.1 * m * Elementary.log(scale) + 1 }
    let attention: Double
    if let a = try number("attention_factor") {
      attention = a
    } else {
      let m = try number("mscale") ?? 0
      let all = try number("mscale_all_dim") ?? 0
      attention = m != 0 && all != 0 ? mscale(factor, m) / mscale(factor, all) : mscale(factor, 1)
      r.record("rope attention_factor", "\(attention)", .derived("0.1·ln(factor) + 1 (yarn_get_mscale)"))
    }
    // Python's `get("beta_fast") or 32`: a zero also falls back.
    let fast = try number("beta_fast").flatMap { $0 == 0 ? nil : $0 } ?? 32
    let slow = try number("beta_slow").flatMap { $0 == 0 ? nil : $0 } ?? 1
    var truncate = true
    if let t = dict["truncate"], t != .null {
      guard let b = t.boolValue else { throw ConfigReader.wrongKind("\(dictKey).truncate", t, expected: "a boolean") }
      truncate = b
    }
    return .yarn(
      factor: factor, originalMaxPositions: original, betaFast: fast, betaSlow: slow, attentionFactor: attention,
      truncate: truncate)
  }
}
