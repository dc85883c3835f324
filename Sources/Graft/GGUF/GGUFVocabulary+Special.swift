extension GGUFVocabulary {
  /// The special token types gguf-py's `SpecialVocab` reads, in its order.
  static let specialTypes = ["bos", "eos", "unk", "sep", "pad", "cls", "mask"]

  /// GGUF keys of the special token ids (gguf-py has no key for `cls`; note the spelling `seperator`).
  static let idKeys: [String: String] = [
    "bos": "bos_token_id", "eos": "eos_token_id", "unk": "unknown_token_id", "sep": "seperator_token_id",
    "pad": "padding_token_id", "mask": "mask_token_id", "eot": "eot_token_id", "eom": "eom_token_id",
  ]

  /// gguf-py `SpecialVocab._try_load_from_tokenizer_json` and `_try_load_from_config_json`: `add_*` flags from the
  /// tokenizer.json post-processor and tokenizer_config.json, ids of tokenizer_config.json's `*_token` strings looked
  /// up in tokenizer.json's `added_tokens`, then config.json's `*_token_id`; the chat template.
  mutating func readSpecialTokens(
    _ files: HuggingFaceTokenizerFiles, tokenizer: JSONObject?, tokenizerConfig: JSONObject?, config: JSONObject,
    notes: inout [String]
  ) throws(GraftError) {
    var types = Self.specialTypes
    var tokenText: [String: String] = [:]
    for t in types { if let s = Self.content(tokenizerConfig?["\(t)_token"]) { tokenText[t] = s } }
    var addedTokens: [(content: String, id: Int)] = []
    if let tokenizer {
      for entry in tokenizer["added_tokens"]?.arrayValue ?? [] {
        if let c = entry["content"]?.stringValue, let id = entry["id"]?.intValue { addedTokens.append((c, id)) }
      }
      if let normalizer = tokenizer["normalizer"]?.objectValue { readNormalizer(normalizer) }
      if let post = tokenizer["post_processor"]?.objectValue {
        for step in post["processors"]?.arrayValue?.compactMap(\.objectValue) ?? [post] {
          readPostProcessor(step, text: &tokenText, types: &types, hasConfig: tokenizerConfig != nil)
        }
      }
    }
    if let tc = tokenizerConfig {
      if let template = tc["chat_template"] {
        guard let s = template.stringValue else {
          throw GraftError(
            .unsupported,
            "chat_template is a list of named templates; Graft writes one tokenizer.chat_template string",
            file: files.path("tokenizer_config.json"))
        }
        chatTemplate = s
      } else if let jinja = try files.text("chat_template.jinja") {
        chatTemplate = jinja
      } else if let s = try files.json("chat_template.json")?["chat_template"]?.stringValue {
        chatTemplate = s
      }
      for t in types {
        if let flag = tc["add_\(t)_token"]?.boolValue, !addFlags.contains(where: { $0.type == t }) {
          addFlags.append((t, flag))
        }
        if let text = tokenText[t], let id = addedTokens.first(where: { $0.content == text })?.id {
          setSpecial(t, id, notes: &notes)
        }
      }
    }
    for t in types {
      if let id = config["\(t)_token_id"]?.intValue { setSpecial(t, id, notes: &notes) }
    }
    // Keep only what GGUF has keys for, in gguf-py's order.
    special = special.filter { Self.idKeys[$0.type] != nil }
    addFlags = addFlags.filter { ["bos", "eos", "sep"].contains($0.type) }
  }

  /// `_set_special_token`: the first id per type wins; ids beyond the vocabulary are dropped.
  mutating func setSpecial(_ type: String, _ id: Int, notes: inout [String]) {
    guard !special.contains(where: { $0.type == type }) else { return }
    guard id >= 0, id < tokens.count else {
      notes.append("\(type) token id \(id) ignored: outside the \(tokens.count)-token vocabulary")
      return
    }
    special.append((type, id))
  }

  /// The string of a `*_token` entry: a string or an `AddedToken` object's `content`.
  static func content(_ value: JSONValue?) -> String? {
    value?.stringValue ?? value?["content"]?.stringValue
  }

  /// `ByteLevel` → no BOS/EOS added; `TemplateProcessing` → BOS/EOS added when the single template starts/ends with
  /// them; `RobertaProcessing` → both added.
  mutating func readPostProcessor(
    _ step: JSONObject, text: inout [String: String], types: inout [String], hasConfig: Bool
  ) {
    func setDefault(_ t: String, _ v: Bool) {
      if !addFlags.contains(where: { $0.type == t }) { addFlags.append((t, v)) }
    }
    func set(_ t: String, _ v: Bool) {
      addFlags.removeAll { $0.type == t }
      addFlags.append((t, v))
    }
    switch step["type"]?.stringValue {
    case "ByteLevel":
      setDefault("bos", false)
      setDefault("eos", false)
    case "RobertaProcessing":
      set("bos", true)
      set("eos", true)
      set("sep", true)
    case "TemplateProcessing":
      let single = step["single"]?.arrayValue ?? []
      guard single.count > 1 else { return }
      if let first = single.first?["SpecialToken"]?["id"]?.stringValue {
        if !hasConfig {
          text["bos"] = first
        } else if first != text["bos"] && first != text["cls"] {
          if text["bos"] == nil { text["bos"] = first }
          if text["cls"] == nil { text["cls"] = first }
        }
        set("bos", first == text["bos"] || first == text["cls"])
      }
      if let last = single.last?["SpecialToken"]?["id"]?.stringValue {
        if !hasConfig {
          text["eos"] = last
        } else if last != text["eos"] {
          // gguf-py keeps the old EOS as the end-of-turn token and makes the template's last token the EOS.
          if !types.contains("eot") {
            types.append("eot")
            text["eot"] = text["eos"]
          } else if !types.contains("eom") {
            types.append("eom")
            text["eom"] = text["eos"]
          }
          text["eos"] = last
        }
        set("eos", true)
      }
    default:
      break
    }
  }

  /// `Lowercase`, `StripAccents`, `BertNormalizer` and `Sequence` normalizers.
  mutating func readNormalizer(_ normalizer: JSONObject) {
    switch normalizer["type"]?.stringValue {
    case "Lowercase": lowercase = true
    case "StripAccents": stripAccents = true
    case "BertNormalizer":
      if let v = normalizer["lowercase"]?.boolValue { lowercase = v }
      if let v = normalizer["strip_accents"]?.boolValue { stripAccents = v }
    case "Sequence":
      for n in normalizer["normalizers"]?.arrayValue ?? [] { if let o = n.objectValue { readNormalizer(o) } }
    default: break
    }
  }

  /// The `tokenizer.*` key-values, in gguf-py's order.
  var keyValues: [GGUFKeyValue] {
    var kv: [GGUFKeyValue] = []
    if let addSpacePrefix { kv.append(GGUFKeyValue("tokenizer.ggml.add_space_prefix", .bool(addSpacePrefix))) }
    kv.append(GGUFKeyValue("tokenizer.ggml.model", .string(model)))
    kv.append(GGUFKeyValue("tokenizer.ggml.pre", .string(pre)))
    kv.append(GGUFKeyValue("tokenizer.ggml.tokens", .array(GGUFArray(strings: tokens))))
    if let scores { kv.append(GGUFKeyValue("tokenizer.ggml.scores", .array(GGUFArray(float32: scores)))) }
    kv.append(GGUFKeyValue("tokenizer.ggml.token_type", .array(GGUFArray(int32: types))))
    if let merges { kv.append(GGUFKeyValue("tokenizer.ggml.merges", .array(GGUFArray(strings: merges)))) }
    for (t, id) in special {
      if let key = Self.idKeys[t] { kv.append(GGUFKeyValue("tokenizer.ggml." + key, .uint32(UInt32(id)))) }
    }
    for (t, v) in addFlags { kv.append(GGUFKeyValue("tokenizer.ggml.add_\(t)_token", .bool(v))) }
    if let chatTemplate { kv.append(GGUFKeyValue("tokenizer.chat_template", .string(chatTemplate))) }
    if let lowercase { kv.append(GGUFKeyValue("tokenizer.ggml.normalizer.lowercase", .bool(lowercase))) }
    if let stripAccents { kv.append(GGUFKeyValue("tokenizer.ggml.normalizer.strip_accents", .bool(stripAccents))) }
    return kv
  }
}
