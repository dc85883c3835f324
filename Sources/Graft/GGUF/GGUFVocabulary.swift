/// A tokenizer as GGUF stores it (`tokenizer.ggml.*`), read from a Hugging Face folder's tokenizer files the way
/// `convert_hf_to_gguf.py` reads them (`_create_vocab_sentencepiece`, `get_vocab_base`, gguf-py `SpecialVocab`).
struct GGUFVocabulary {
  /// `tokenizer.ggml.model`: `llama` (SentencePiece) or `gpt2` (byte-level BPE).
  var model: String
  /// `tokenizer.ggml.pre`.
  var pre: String
  /// `tokenizer.ggml.tokens`, one per id up to `vocab_size`.
  var tokens: [String]
  /// `tokenizer.ggml.token_type` (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte).
  var types: [Int32]
  /// `tokenizer.ggml.scores` (SentencePiece only).
  var scores: [Float]?
  /// `tokenizer.ggml.merges` (BPE only).
  var merges: [String]?
  /// Special token ids in the order gguf-py adds them (`bos`, `eos`, `unk`, `sep`, `pad`, `mask`, `eot`, `eom`).
  var special: [(type: String, id: Int)] = []
  /// `add_bos` / `add_eos` / `add_sep` flags.
  var addFlags: [(type: String, value: Bool)] = []
  /// `tokenizer.chat_template`.
  var chatTemplate: String?
  /// `tokenizer.ggml.add_space_prefix` (Llama models whose tokenizer_config.json sets `add_prefix_space`).
  var addSpacePrefix: Bool?
  /// `tokenizer.ggml.normalizer.lowercase` / `.strip_accents`.
  var lowercase: Bool?
  var stripAccents: Bool?
  /// Where the vocabulary came from, for the report.
  var source: String

  /// Token types (`gguf.TokenType`).
  enum TokenType {
    static let normal: Int32 = 1
    static let control: Int32 = 3
    static let userDefined: Int32 = 4
    static let unused: Int32 = 5
  }

  /// The largest tokenizer JSON file read (Gemma's tokenizer.json is 34 MB).
  static let maximumJSONBytes = 128 << 20

  /// Reads the tokenizer of a model folder: `tokenizer.model` (SentencePiece) when present, else a byte-level BPE
  /// `tokenizer.json`, plus `tokenizer_config.json`, `added_tokens.json`, the chat template and config.json's ids.
  ///
  /// - Throws: `invalidModel` naming the files looked for when there is no tokenizer; `unsupported` for a
  ///   tokenizer.json that is not byte-level BPE or whose pre-tokenizer is unknown; `invalidModel` for token ids
  ///   beyond `vocab_size` or duplicate token strings (llama.cpp asserts unique tokens).
  static func read(
    folder: String, config: JSONObject, vocabularySize: Int, architecture: GGUFArchitecture, notes: inout [String]
  ) throws(GraftError) -> GGUFVocabulary {
    let files = HuggingFaceTokenizerFiles(folder: folder)
    let tokenizerConfig = try files.json("tokenizer_config.json")
    // Parsed once: the vocabulary (byte-level BPE) and the special tokens both read it, and it is megabytes.
    let tokenizerJSON = try files.json("tokenizer.json")
    var vocabulary: GGUFVocabulary
    if FileSystem.exists(folder + "/tokenizer.model") {
      vocabulary = try sentencePiece(files, tokenizerConfig: tokenizerConfig, size: vocabularySize, notes: &notes)
      if architecture == .llama, let prefix = tokenizerConfig?["add_prefix_space"]?.boolValue {
        vocabulary.addSpacePrefix = prefix
      }
    } else if let tokenizer = tokenizerJSON {
      vocabulary = try bytePairs(tokenizer, files: files, size: vocabularySize, notes: &notes)
    } else {
      throw GraftError(
        .invalidModel,
        "the model folder has no tokenizer (looked for tokenizer.model and tokenizer.json); GGUF needs one, since "
          + "llama.cpp requires tokenizer.ggml.model and tokenizer.ggml.tokens", file: folder
      ).on(.input)
    }
    try vocabulary.readSpecialTokens(
      files, tokenizer: tokenizerJSON, tokenizerConfig: tokenizerConfig, config: config, notes: &notes)
    try vocabulary.checkUnique(file: files.folder)
    return vocabulary
  }

  /// `_create_vocab_sentencepiece`: pieces by id, `[PAD{i}]` (score −10000, unused) up to `vocab_size`, then
  /// `added_tokens.json` and tokenizer_config.json's `added_tokens_decoder` (score −1000).
  static func sentencePiece(
    _ files: HuggingFaceTokenizerFiles, tokenizerConfig: JSONObject?, size: Int, notes: inout [String]
  ) throws(GraftError) -> GGUFVocabulary {
    let spm = try SentencePieceModel.read(path: files.folder + "/tokenizer.model")
    var v = GGUFVocabulary(
      model: "llama", pre: "default", tokens: (0..<size).map { "[PAD\($0)]" },
      types: Array(repeating: TokenType.unused, count: size), scores: Array(repeating: -10000, count: size),
      merges: nil, source: "tokenizer.model (SentencePiece, \(spm.pieces.count) pieces)")
    if spm.pieces.count > size {
      notes.append("tokenizer.model pieces from id \(size) ignored: config.json vocab_size is \(size)")
    }
    for (id, piece) in spm.pieces.prefix(size).enumerated() {
      v.tokens[id] = piece.piece
      v.scores?[id] = piece.score
      v.types[id] = piece.type.rawValue
    }
    if let added = try files.json("added_tokens.json") {
      for (content, value) in added {
        guard let id = value.intValue, id >= 0 else {
          throw GraftError(
            .invalidJSON, "'\(content)' has id \(value), not a token id", file: files.path("added_tokens.json"))
        }
        guard id < size else {
          notes.append("added_tokens.json '\(content)' (id \(id)) ignored: beyond vocab_size \(size)")
          continue
        }
        v.tokens[id] = content
        v.scores?[id] = -1000
        v.types[id] = TokenType.userDefined
      }
    }
    for (key, value) in tokenizerConfig?["added_tokens_decoder"]?.objectValue ?? JSONObject() {
      guard let id = Int(key), id >= 0, let content = value["content"]?.stringValue else {
        throw GraftError(
          .invalidJSON, "added_tokens_decoder entry '\(key)' needs an integer id and a content string",
          file: files.path("tokenizer_config.json"))
      }
      guard id < size else {
        notes.append("added_tokens_decoder '\(content)' (id \(id)) ignored: beyond vocab_size \(size)")
        continue
      }
      let special = value["special"]?.boolValue == true || looksSpecial(content)
      v.tokens[id] = special ? content : content.replacing("\u{2581}", with: " ")
      v.types[id] = special ? TokenType.control : TokenType.userDefined
      v.scores?[id] = -1000
    }
    return v
  }

  /// `get_vocab_base` + `_set_vocab_gpt2`: a byte-level BPE `tokenizer.json`.
  static func bytePairs(
    _ tokenizer: JSONObject, files: HuggingFaceTokenizerFiles, size: Int, notes: inout [String]
  ) throws(GraftError) -> GGUFVocabulary {
    let file = files.path("tokenizer.json")
    let model = tokenizer["model"]?.objectValue ?? JSONObject()
    guard model["type"]?.stringValue == "BPE", let vocab = model["vocab"]?.objectValue else {
      throw GraftError(
        .unsupported,
        "the tokenizer model is \(model["type"]?.stringValue ?? "missing"); Graft converts byte-level BPE "
          + "tokenizer.json files and SentencePiece tokenizer.model files", file: file)
    }
    let pre = tokenizer["pre_tokenizer"]?.objectValue ?? JSONObject()
    if model["byte_fallback"]?.boolValue == true && !JSONValue.object(pre).serialized().contains("ByteLevel") {
      throw GraftError(
        .unsupported,
        "this is a SentencePiece-style BPE tokenizer.json (byte_fallback, no ByteLevel step); Graft converts it from "
          + "tokenizer.model, which the folder lacks (convert_hf_to_gguf.py's LlamaHfVocab path is not implemented)",
        file: file)
    }
    let preName = try GGUFPreTokenizer.name(for: tokenizer, file: file)
    var byID: [Int: String] = [:]
    func add(_ token: String, _ idValue: JSONValue?) throws(GraftError) {
      guard let id = idValue?.intValue, id >= 0 else {
        throw GraftError(.invalidJSON, "token '\(token)' has no valid id", file: file)
      }
      guard id < size else {
        throw GraftError(
          .invalidModel, "token '\(token)' has id \(id) but config.json vocab_size is \(size)", file: file)
      }
      byID[id] = token
    }
    for (token, id) in vocab { try add(token, id) }
    var added: [String: (special: Bool, normalized: Bool)] = [:]
    for entry in tokenizer["added_tokens"]?.arrayValue ?? [] {
      guard let content = entry["content"]?.stringValue else {
        throw GraftError(.invalidJSON, "an added_tokens entry has no content", file: file)
      }
      try add(content, entry["id"])
      added[content] = (entry["special"]?.boolValue ?? false, entry["normalized"]?.boolValue ?? true)
    }
    var v = GGUFVocabulary(
      model: "gpt2", pre: preName, tokens: [], types: [], scores: nil, merges: try merges(model, file: file),
      source: "tokenizer.json (byte-level BPE, \(vocab.count) tokens + \(added.count) added, pre \(preName))")
    for i in 0..<size {
      guard var token = byID[i] else {
        v.tokens.append("[PAD\(i)]")
        v.types.append(TokenType.unused)
        continue
      }
      if let a = added[token] {
        if a.special || looksSpecial(token) {
          v.types.append(TokenType.control)
        } else {
          if !a.normalized {
            notes.append("added token '\(token)' is not normalized; taken as is (the Python converter round-trips it)")
          }
          token = token.replacing("\u{2581}", with: " ")
          v.types.append(TokenType.userDefined)
        }
      } else {
        v.types.append(TokenType.normal)
      }
      v.tokens.append(token)
    }
    return v
  }

  /// `tokenizer.json` merges: `"a b"` strings, or `[a, b]` pairs joined with spaces inside parts as U+0120.
  static func merges(_ model: JSONObject, file: String) throws(GraftError) -> [String] {
    guard let list = model["merges"]?.arrayValue, !list.isEmpty else {
      throw GraftError(
        .invalidModel, "the BPE model has no merges; llama.cpp's gpt2 tokenizer requires them", file: file)
    }
    var out: [String] = []
    out.reserveCapacity(list.count)
    for item in list {
      if let s = item.stringValue {
        out.append(s)
      } else if let pair = item.arrayValue, pair.count == 2, let a = pair[0].stringValue, let b = pair[1].stringValue {
        out.append(a.replacing(" ", with: "\u{0120}") + " " + b.replacing(" ", with: "\u{0120}"))
      } else {
        throw GraftError(.invalidJSON, "a merge is neither \"a b\" nor [\"a\", \"b\"]", file: file)
      }
    }
    return out
  }

  /// `does_token_look_special`.
  static func looksSpecial(_ token: String) -> Bool {
    if ["<pad>", "<mask>", "<2mass>", "[@BOS@]"].contains(token) { return true }
    if token.hasPrefix("<|") && token.hasSuffix("|>") { return true }
    if token.hasPrefix("<\u{FF5C}") && token.hasSuffix("\u{FF5C}>") { return true }
    return token.hasPrefix("<unused") && token.hasSuffix(">")
  }

  /// llama.cpp asserts that token strings are unique (`id_to_token.size() == token_to_id.size()`).
  func checkUnique(file: String) throws(GraftError) {
    var seen: [String: Int] = [:]
    for (id, token) in tokens.enumerated() {
      if let first = seen.updateValue(id, forKey: token) {
        throw GraftError(
          .invalidModel,
          "tokens \(first) and \(id) are both '\(token)'; llama.cpp requires unique token strings", file: file)
      }
    }
  }
}

/// The tokenizer files of a model folder.
struct HuggingFaceTokenizerFiles {
  /// The folder.
  var folder: String

  /// The path of a file in the folder.
  func path(_ name: String) -> String { folder + "/" + name }

  /// A JSON object file of the folder, or `nil` when absent.
  func json(_ name: String) throws(GraftError) -> JSONObject? {
    let p = path(name)
    guard FileSystem.exists(p) else { return nil }
    let bytes = try FileSystem.readAll(p, limit: GGUFVocabulary.maximumJSONBytes, what: "the file")
    let value = try bytes.withUnsafeBytes { raw in
      Result { () throws(GraftError) in try JSONParser.parse(raw, file: p) }
    }
    .get()
    guard let object = value.objectValue else {
      throw GraftError(.invalidJSON, "expected a JSON object, found \(value.kindDescription)", file: p, byteOffset: 0)
    }
    return object
  }

  /// A text file of the folder, or `nil` when absent.
  func text(_ name: String) throws(GraftError) -> String? {
    let p = path(name)
    guard FileSystem.exists(p) else { return nil }
    let bytes = try FileSystem.readAll(p, limit: GGUFVocabulary.maximumJSONBytes, what: "the file")
    guard let s = String(validating: bytes, as: UTF8.self) else {
      throw GraftError(.invalidHeader, "the file is not UTF-8", file: p)
    }
    return s
  }
}
