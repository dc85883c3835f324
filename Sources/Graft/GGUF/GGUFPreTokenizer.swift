/// `tokenizer.ggml.pre` for byte-level BPE tokenizers, by a table of known `tokenizer.json` pre-tokenizer
/// configurations.
///
/// llama.cpp's converter names the pre-tokenizer by hashing the token ids the Hugging Face tokenizer gives for a fixed
/// text (`get_vocab_base_pre`), which needs the whole tokenizer (normalizer, regex split, byte-level BPE) run exactly.
/// Graft does not run tokenizers, so it matches the configuration that decides what llama.cpp does instead: the
/// `Split` regex (exactly the string llama.cpp's `llama-vocab.cpp` quotes as the original for that name), the
/// `ByteLevel` step and `ignore_merges`. Anything else is refused by name.
enum GGUFPreTokenizer {
  /// Llama 3's split regex (`llama-vocab.cpp`, `LLAMA_VOCAB_PRE_TYPE_LLAMA3`, "original regex from tokenizer.json").
  static let llama3Pattern =
    #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
  /// Qwen2's split regex (`LLAMA_VOCAB_PRE_TYPE_QWEN2`): Llama 3's with single digits.
  static let qwen2Pattern =
    #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

  /// The names Graft recognises, for messages.
  static let knownNames = "gpt-2 (GPT-2 byte-level), llama-bpe (Llama 3), qwen2 (Qwen1.5/2/2.5/3)"

  /// llama.cpp's pre-tokenizer name for a `tokenizer.json` whose model is byte-level BPE.
  ///
  /// - Throws: `unsupported` describing the configuration when it is not in the table.
  static func name(for tokenizer: JSONObject, file: String) throws(GraftError) -> String {
    let pre = tokenizer["pre_tokenizer"]?.objectValue ?? JSONObject()
    let model = tokenizer["model"]?.objectValue ?? JSONObject()
    if isByteLevel(pre, useRegex: true) { return "gpt-2" }
    if pre["type"]?.stringValue == "Sequence", let steps = pre["pretokenizers"]?.arrayValue, steps.count == 2,
      let split = steps[0].objectValue, split["type"]?.stringValue == "Split",
      split["behavior"]?.stringValue == "Isolated", split["invert"]?.boolValue != true,
      let byteLevel = steps[1].objectValue, isByteLevel(byteLevel, useRegex: false),
      let pattern = split["pattern"]?["Regex"]?.stringValue
    {
      let ignoreMerges = model["ignore_merges"]?.boolValue ?? false
      if pattern == llama3Pattern && ignoreMerges { return "llama-bpe" }
      if pattern == qwen2Pattern && !ignoreMerges { return "qwen2" }
      throw GraftError(
        .unsupported,
        "the pre-tokenizer splits with the regex \(pattern) (ignore_merges \(ignoreMerges)), which is not one Graft "
          + "can name for llama.cpp (tokenizer.ggml.pre); known: \(knownNames). llama.cpp's converter names it by "
          + "hashing a tokenization, which Graft does not run", file: file)
    }
    throw GraftError(
      .unsupported,
      "the pre-tokenizer \(JSONValue.object(pre).serialized().prefix(300)) is not one Graft can name for llama.cpp "
        + "(tokenizer.ggml.pre); known: \(knownNames)", file: file)
  }

  /// A `ByteLevel` pre-tokenizer without a prefix space and with the given `use_regex` (default true).
  static func isByteLevel(_ step: JSONObject, useRegex: Bool) -> Bool {
    step["type"]?.stringValue == "ByteLevel" && step["add_prefix_space"]?.boolValue != true
      && (step["use_regex"]?.boolValue ?? true) == useRegex
  }

  /// The `tokenizer.json` pre-tokenizer (and normalizer) that a `tokenizer.ggml.pre` name stands for, for writing a
  /// Hugging Face tokenizer back.
  static func configuration(
    forName name: String
  ) -> (preTokenizer: JSONValue, normalizer: JSONValue, ignoreMerges: Bool)? {
    func byteLevel(_ useRegex: Bool) -> JSONValue {
      .object(
        JSONObject([
          ("type", "ByteLevel"), ("add_prefix_space", false), ("trim_offsets", true), ("use_regex", .bool(useRegex)),
        ]))
    }
    func sequence(_ pattern: String) -> JSONValue {
      let split: JSONValue = .object(
        JSONObject([
          ("type", "Split"), ("pattern", .object(JSONObject([("Regex", .string(pattern))]))),
          ("behavior", "Isolated"), ("invert", false),
        ]))
      return .object(JSONObject([("type", "Sequence"), ("pretokenizers", .array([split, byteLevel(false)]))]))
    }
    switch name {
    case "gpt-2": return (byteLevel(true), .null, false)
    case "llama-bpe", "llama3", "llama-v3": return (sequence(llama3Pattern), .null, true)
    case "qwen2": return (sequence(qwen2Pattern), .object(JSONObject([("type", "NFC")])), false)
    default: return nil
    }
  }
}
