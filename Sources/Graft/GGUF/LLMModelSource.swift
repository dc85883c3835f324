/// Where a language model for the engine comes from: a GGUF file opened as the Hugging Face model it encodes.
///
///     let (weights, configuration) = try LLMModelSource.open("model-Q8_0.gguf")
///     let model = try CausalLM(configuration: configuration, weights: weights)
///
/// Tensors are lazy: quantized ones decode when the engine reads them, Q/K are un-permuted row by row (llama
/// architecture), stacked experts are views of one expert each. What was inferred while rebuilding config.json from
/// the key-values is in ``Model/notes``.
public enum LLMModelSource {
  /// A GGUF model ready for ``CausalLM``.
  public struct Model: Sendable {
    /// The tensors in transformers' names and layout (`model.layers.N.self_attn.q_proj.weight`, per-expert MoE keys).
    public var weights: TensorTable
    /// The configuration parsed from the rebuilt config.json.
    public var configuration: LLMConfiguration
    /// config.json as rebuilt from the GGUF key-values.
    public var config: JSONObject
    /// How many tensors of each quantized type the file stores (`Q8_0`: 14).
    public var quantization: [(type: String, count: Int)]
    /// What was inferred or not carried over.
    public var notes: [String]
  }

  /// Opens a GGUF file (or any split of a split checkpoint) as a Hugging Face model.
  ///
  /// - Throws: `unsupported` naming `general.architecture` for architectures other than llama, qwen2, qwen3, qwen2moe
  ///   and qwen3moe, and errors naming the key or tensor that config.json or transformers' layout cannot express.
  public static func open(_ path: String) throws(GraftError) -> (TensorTable, LLMConfiguration) {
    let model = try load(path)
    return (model.weights, model.configuration)
  }

  /// Whether `path` is a GGUF file whose `general.architecture` Graft opens as a language model.
  public static func isModel(_ path: String) -> Bool {
    guard !FileSystem.isDirectory(path), let file = try? GGUFFile.open(path: path), let arch = file.architecture
    else { return false }
    return GGUFArchitecture(rawValue: arch) != nil
  }

  /// Whether `path` is a Hugging Face model folder whose config.json `model_type` is a family Graft converts to GGUF.
  public static func isFolder(_ path: String) -> Bool {
    guard HuggingFaceFolder.isModelFolder(path),
      let config = try? HuggingFaceFolder.readJSONObject(path + "/config.json"),
      let type = config["model_type"]?.stringValue
    else { return false }
    return LLMConfiguration.Family(rawValue: type) != nil
  }

  /// Opens a GGUF file with everything known about the conversion (``Model``).
  public static func load(_ path: String) throws(GraftError) -> Model {
    let view = try GGUFConversion.huggingFaceView(path: path)
    return Model(
      weights: view.table, configuration: view.configuration, config: view.config,
      quantization: Dequantization.census(view.gguf), notes: view.notes)
  }
}
