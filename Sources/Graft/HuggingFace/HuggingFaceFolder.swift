/// A Hugging Face model folder: `config.json`, the weights transformers would load, and the files around them.
///
/// The weights are the first of `model.safetensors.index.json` (with its shards), `model.safetensors`,
/// `pytorch_model.bin.index.json` (with its shards) and `pytorch_model.bin`, which is transformers'
/// `from_pretrained` order; other weight-like files in the folder (`consolidated.safetensors`, adapters) are listed
/// in ``otherFiles`` and not read, as transformers does not read them either.
///
///     let folder = try HuggingFaceFolder.open("Qwen2.5-0.5B")
///     let model = try CausalLM(configuration: folder.llmConfiguration(), weights: folder.table)
public struct HuggingFaceFolder: Sendable {
  /// The folder.
  public var path: String
  /// The tensors (memory-mapped; nothing is read until used).
  public var table: TensorTable
  /// `config.json`.
  public var config: JSONObject
  /// `generation_config.json`, when present.
  public var generationConfig: JSONObject?
  /// The weight files read: the index (if any) first, then the shards, or the single file.
  public var weightFiles: [String]
  /// Tokenizer files (`tokenizer.json`, `tokenizer_config.json`, `tokenizer.model`, `vocab.json`, `merges.txt`, …).
  public var tokenizerFiles: [String]
  /// Every other file (READMEs, licences, weight files transformers would not load), not read.
  public var otherFiles: [String]

  /// The largest `config.json` / `generation_config.json` read (real ones are a few KiB).
  static let maximumConfigLength = 16 << 20

  /// Whether `path` is a folder holding `config.json` and one of the weight files transformers loads.
  public static func isModelFolder(_ path: String) -> Bool {
    guard FileSystem.isDirectory(path), let names = try? FileSystem.contents(of: path) else { return false }
    return names.contains("config.json") && FormatDetector.huggingFaceWeightNames.contains { names.contains($0.name) }
  }

  /// Opens a model folder: parses its JSON files, reads the weights' headers and classifies the other files.
  ///
  /// - Throws: `unrecognizedFormat` when `path` is not a folder with `config.json` and weights (naming what it
  ///   holds); `invalidJSON` for a malformed config; any error of the weight reader, naming the file.
  public static func open(
    _ path: String, options: Checkpoint.ReadOptions = Checkpoint.ReadOptions()
  ) throws
    -> HuggingFaceFolder
  {
    let folder = FileSystem.withoutTrailingSlashes(path)
    guard FileSystem.isDirectory(folder) else {
      throw GraftError(
        .unrecognizedFormat, "not a folder; a Hugging Face model is a folder with config.json", file: path
      )
      .on(.input)
    }
    let names = try FileSystem.contents(of: folder).sorted()
    guard names.contains("config.json") else {
      throw GraftError(
        .unrecognizedFormat,
        "the folder has no config.json, so it is not a Hugging Face model folder (found: "
          + (names.isEmpty ? "nothing" : names.prefix(12).joined(separator: ", ")) + ")", file: folder
      ).on(.input)
    }
    guard let weights = FormatDetector.huggingFaceWeightNames.first(where: { names.contains($0.name) }) else {
      throw GraftError(
        .unrecognizedFormat,
        "the folder has config.json but none of the weight files transformers loads ("
          + FormatDetector.huggingFaceWeightNames.map(\.name).joined(separator: ", ") + "); found: "
          + names.prefix(12).joined(separator: ", "), file: folder
      ).on(.input)
    }
    let config = try readJSONObject(folder + "/config.json")
    let generation =
      names.contains("generation_config.json") ? try readJSONObject(folder + "/generation_config.json") : nil
    let table = try Checkpoint.read(path: folder, options: options)
    var weightFiles = [weights.name]
    if weights.name.hasSuffix(".index.json") {
      weightFiles += try shardNames(index: FileSystem.join(folder, weights.name))
    }
    let used = Set(weightFiles + ["config.json", "generation_config.json"])
    let rest = names.filter { !used.contains($0) && !FileSystem.isDirectory(folder + "/" + $0) }
    return HuggingFaceFolder(
      path: folder, table: table, config: config, generationConfig: generation, weightFiles: weightFiles,
      tokenizerFiles: rest.filter(isTokenizerFile), otherFiles: rest.filter { !isTokenizerFile($0) })
  }

  /// The engine configuration parsed from `config.json`; errors name the file.
  public func llmConfiguration(
    options: LLMConfiguration.ParseOptions = .init()
  ) throws(GraftError)
    -> LLMConfiguration
  {
    do { return try LLMConfiguration(json: config, options: options) } catch {
      throw error.inFile(path + "/config.json").on(.input)
    }
  }

  /// Whether a file belongs to the tokenizer (copied with the model when a folder is written).
  public static func isTokenizerFile(_ name: String) -> Bool {
    let known: Set<String> = [
      "special_tokens_map.json", "added_tokens.json", "vocab.json", "vocab.txt", "merges.txt", "spiece.model",
      "sentencepiece.bpe.model", "chat_template.json", "chat_template.jinja", "preprocessor_config.json",
    ]
    return name.hasPrefix("tokenizer") || known.contains(name) || name.hasSuffix(".tiktoken")
  }

  /// Reads `pytorch_model.bin.index.json` and its `torch.save` shards with the safetensors index rules.
  public static func readPyTorchShards(index: String) throws(GraftError) -> TensorTable {
    try SafeTensors.readIndex(index) { shard throws(GraftError) in try PyTorchCheckpoint.read(path: shard) }
  }

  /// A JSON file that must hold an object.
  static func readJSONObject(_ path: String) throws(GraftError) -> JSONObject {
    let size = try FileSystem.size(of: path)
    guard size <= maximumConfigLength else {
      throw GraftError(
        .limitExceeded, "the file is \(size) bytes; the limit is \(maximumConfigLength)", file: path, byteOffset: 0
      ).on(.input)
    }
    let bytes = try FileSystem.readAll(path)
    let value = try bytes.withUnsafeBytes { raw in
      Result { () throws(GraftError) in try JSONParser.parse(raw, file: path) }
    }.get()
    guard let object = value.objectValue else {
      throw GraftError(
        .invalidJSON, "expected a JSON object, found \(value.kindDescription)", file: path, byteOffset: 0
      )
      .on(.input)
    }
    return object
  }

  /// The shard file names an index lists, in order.
  static func shardNames(index: String) throws(GraftError) -> [String] {
    let object = try readJSONObject(index)
    var seen = Set<String>()
    var out: [String] = []
    for (_, value) in object["weight_map"]?.objectValue ?? JSONObject() {
      if let name = value.stringValue, seen.insert(name).inserted { out.append(name) }
    }
    return out.sorted()
  }
}
