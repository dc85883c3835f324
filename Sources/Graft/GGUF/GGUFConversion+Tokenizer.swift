extension GGUFConversion {
  /// Tokenizer files rebuilt from a GGUF's `tokenizer.*` keys.
  struct TokenizerFiles {
    /// The files, by name.
    var files: [(name: String, bytes: [UInt8])] = []
    /// What could not be rebuilt.
    var notes: [String] = []
    /// For the report.
    var description = "none"
  }

  /// Rebuilds the tokenizer: `tokenizer.model` (a SentencePiece BPE model with the GGUF's pieces, scores and types)
  /// for `llama` vocabularies, `tokenizer.json` (byte-level BPE with the pre-tokenizer `tokenizer.ggml.pre` names)
  /// for `gpt2` ones, and `tokenizer_config.json` (special tokens, add_bos/add_eos, chat template).
  ///
  /// GGUF does not keep the SentencePiece model type (written as BPE, which is how llama.cpp tokenizes it), the
  /// normalizer rules beyond `precompiled_charsmap`, or tokenizer.json's post-processor templates (rebuilt from
  /// add_bos/add_eos); the notes say so.
  static func tokenizerFiles(_ gguf: TensorTable) throws(GraftError) -> TokenizerFiles {
    let m = gguf.metadata
    var out = TokenizerFiles()
    guard let model = m["tokenizer.ggml.model"]?.stringValue else {
      out.notes.append("no tokenizer written: the GGUF has no tokenizer.ggml.model")
      return out
    }
    guard let tokens = m["tokenizer.ggml.tokens"]?.arrayValue?.compactMap(\.stringValue), !tokens.isEmpty else {
      out.notes.append("no tokenizer written: tokenizer.ggml.tokens is missing")
      return out
    }
    let types = (m["tokenizer.ggml.token_type"]?.arrayValue ?? []).map { $0.intValue ?? 1 }
    func type(_ id: Int) -> Int { id < types.count ? types[id] : 1 }
    func special(_ key: String) -> Int? {
      guard let id = m["tokenizer.ggml.\(key)"]?.intValue, id >= 0, id < tokens.count else { return nil }
      return id
    }
    var config = JSONObject()
    for (name, key) in [
      ("bos_token", "bos_token_id"), ("eos_token", "eos_token_id"), ("unk_token", "unknown_token_id"),
      ("pad_token", "padding_token_id"),
    ] {
      if let id = special(key) { config[name] = .string(tokens[id]) }
    }
    for flag in ["bos", "eos"] {
      if let v = m["tokenizer.ggml.add_\(flag)_token"]?.boolValue { config["add_\(flag)_token"] = .bool(v) }
    }
    if let template = m["tokenizer.chat_template"]?.stringValue { config["chat_template"] = .string(template) }
    config["clean_up_tokenization_spaces"] = false
    switch model {
    case "llama":
      var spm = SentencePieceModel(pieces: [])
      let scores = (m["tokenizer.ggml.scores"]?.arrayValue ?? []).map { Float($0.doubleValue ?? 0) }
      for (id, token) in tokens.enumerated() {
        let t = SentencePieceModel.PieceType(rawValue: Int32(clamping: type(id))) ?? .normal
        spm.pieces.append(.init(token, score: id < scores.count ? scores[id] : 0, type: t))
      }
      spm.modelType = .bpe
      spm.byteFallback = types.contains(6)
      spm.unknownID = special("unknown_token_id") ?? spm.pieces.firstIndex { $0.type == .unknown } ?? 0
      // llama.cpp's SentencePiece defaults when the keys are absent (`llama-vocab.cpp`): BOS 1, EOS 2.
      for (key, fallback) in [("bos_token_id", 1), ("eos_token_id", 2)]
      where special(key) == nil && fallback < tokens.count {
        out.notes.append("tokenizer.ggml.\(key) absent: \(fallback), llama.cpp's SentencePiece default")
      }
      spm.bosID = special("bos_token_id") ?? (tokens.count > 1 ? 1 : -1)
      spm.eosID = special("eos_token_id") ?? (tokens.count > 2 ? 2 : -1)
      spm.padID = special("padding_token_id") ?? -1
      spm.normalizerName = "identity"
      spm.addDummyPrefix = m["tokenizer.ggml.add_space_prefix"]?.boolValue ?? true
      spm.removeExtraWhitespaces = m["tokenizer.ggml.remove_extra_whitespaces"]?.boolValue ?? false
      if let charsmap = m["tokenizer.ggml.precompiled_charsmap"]?.arrayValue {
        spm.precompiledCharsmap = charsmap.compactMap { $0.intValue.map { UInt8(truncatingIfNeeded: $0) } }
      }
      config["tokenizer_class"] = "LlamaTokenizer"
      config["legacy"] = false
      out.files.append(("tokenizer.model", spm.serialized()))
      out.description = "tokenizer.model (SentencePiece BPE, \(tokens.count) pieces) + tokenizer_config.json"
      out.notes.append(
        "tokenizer.model rebuilt as a SentencePiece BPE model (GGUF does not record unigram vs BPE; llama.cpp "
          + "tokenizes both by scores)")
    case "gpt2":
      let pre = m["tokenizer.ggml.pre"]?.stringValue ?? "default"
      guard let shape = GGUFPreTokenizer.configuration(forName: pre) else {
        out.notes.append(
          "no tokenizer written: tokenizer.ggml.pre '\(pre)' is not one Graft can rebuild (\(GGUFPreTokenizer.knownNames))"
        )
        return out
      }
      let merges = (m["tokenizer.ggml.merges"]?.arrayValue ?? []).map { $0 }
      let json = byteLevelTokenizer(
        tokens: tokens, types: types, merges: merges, shape: shape, bos: special("bos_token_id"),
        addBOS: m["tokenizer.ggml.add_bos_token"]?.boolValue ?? false)
      config["tokenizer_class"] = "PreTrainedTokenizerFast"
      out.files.append(("tokenizer.json", JSONValue.object(json).serializedBytes(JSONFormatting(indent: 2))))
      out.description = "tokenizer.json (byte-level BPE, pre \(pre), \(tokens.count) tokens) + tokenizer_config.json"
    default:
      out.notes.append("no tokenizer written: tokenizer.ggml.model '\(model)' is not llama or gpt2")
      return out
    }
    out.files.append(("tokenizer_config.json", JSONValue.object(config).serializedBytes(JSONFormatting(indent: 2))))
    return out
  }

  /// A `tokenizer.json` for a byte-level BPE vocabulary: control and user-defined tokens as added tokens, `[PADn]`
  /// placeholders left out, the pre-tokenizer and normalizer of the `pre` name, a BOS template when GGUF adds BOS.
  static func byteLevelTokenizer(
    tokens: [String], types: [Int], merges: [JSONValue],
    shape: (preTokenizer: JSONValue, normalizer: JSONValue, ignoreMerges: Bool), bos: Int?, addBOS: Bool
  ) -> JSONObject {
    var vocab = JSONObject()
    var added: [JSONValue] = []
    for (id, token) in tokens.enumerated() {
      let type = id < types.count ? types[id] : 1
      if type == 5 && token == "[PAD\(id)]" { continue }
      vocab.members.append((token, .integer(id)))
      if type == 3 || type == 4 {
        added.append(
          .object(
            JSONObject([
              ("id", .integer(id)), ("content", .string(token)), ("single_word", false), ("lstrip", false),
              ("rstrip", false), ("normalized", .bool(type == 4)), ("special", .bool(type == 3)),
            ])))
      }
    }
    let byteLevel: JSONValue = .object(
      JSONObject([("type", "ByteLevel"), ("add_prefix_space", false), ("trim_offsets", false), ("use_regex", false)]))
    var post = byteLevel
    if addBOS, let bos {
      let token = tokens[bos]
      let special: JSONValue = .object(
        JSONObject([("SpecialToken", .object(JSONObject([("id", .string(token)), ("type_id", 0)])))]))
      func sequence(_ id: String) -> JSONValue {
        .object(JSONObject([("Sequence", .object(JSONObject([("id", .string(id)), ("type_id", 0)])))]))
      }
      let template: JSONValue = .object(
        JSONObject([
          ("type", "TemplateProcessing"), ("single", .array([special, sequence("A")])),
          ("pair", .array([special, sequence("A"), special, sequence("B")])),
          (
            "special_tokens",
            .object(
              JSONObject([
                (
                  token,
                  .object(
                    JSONObject([
                      ("id", .string(token)), ("ids", .array([.integer(bos)])), ("tokens", .array([.string(token)])),
                    ]))
                )
              ]))
          ),
        ]))
      post = .object(JSONObject([("type", "Sequence"), ("processors", .array([byteLevel, template]))]))
    }
    let model: JSONValue = .object(
      JSONObject([
        ("type", "BPE"), ("dropout", .null), ("unk_token", .null), ("continuing_subword_prefix", .null),
        ("end_of_word_suffix", .null), ("fuse_unk", false), ("byte_fallback", false),
        ("ignore_merges", .bool(shape.ignoreMerges)), ("vocab", .object(vocab)), ("merges", .array(merges)),
      ]))
    return JSONObject([
      ("version", "1.0"), ("truncation", .null), ("padding", .null), ("added_tokens", .array(added)),
      ("normalizer", shape.normalizer), ("pre_tokenizer", shape.preTokenizer), ("post_processor", post),
      (
        "decoder",
        .object(
          JSONObject([("type", "ByteLevel"), ("add_prefix_space", true), ("trim_offsets", true), ("use_regex", true)]))
      ),
      ("model", model),
    ])
  }
}
