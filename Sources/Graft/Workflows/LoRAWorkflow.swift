/// LoRA / PEFT adapters as one call each: merge adapters into a base checkpoint (verified layer by layer and, for a
/// ViT, end to end in the engine), or extract an adapter from a fine-tuned checkpoint.
public enum LoRAWorkflow {
  /// An adapter folder and its weight, as given on the command line (`path` or `path:0.7`).
  public struct AdapterSpec: Sendable, Equatable {
    /// The adapter folder (`adapter_config.json` + `adapter_model.safetensors` or `.bin`).
    public var path: String
    /// The factor w of `W + w·s·B·A`.
    public var weight: Double

    /// Creates a spec.
    public init(path: String, weight: Double = 1) {
      self.path = path
      self.weight = weight
    }

    /// Parses `path` or `path:weight` (the part after the last colon must be a number to count as a weight).
    public init(parsing text: String) {
      if let colon = text.lastIndex(of: ":"), let w = Double(text[text.index(after: colon)...]), w.isFinite {
        self.init(path: String(text[..<colon]), weight: w)
      } else {
        self.init(path: text)
      }
    }
  }

  /// Options of ``merge(_:)``.
  public struct MergeOptions: Sendable {
    /// The base checkpoint (file or Hugging Face folder).
    public var base: String
    /// The adapters, merged together (`W + Σ wᵢ·sᵢ·Bᵢ·Aᵢ`).
    public var adapters: [AdapterSpec]
    /// Where and how to write the merged checkpoint.
    public var output: WorkflowOutput
    /// How to read the base.
    public var read = Checkpoint.ReadOptions()
    /// The merge itself.
    public var merge = LoRA.MergeOptions()
    /// Whether to run the engine checks (and refuse to write when one fails).
    public var verify = true
    /// Engine options for the whole-model check of a ViT base.
    public var model = VisionTransformer.Options()

    /// Creates options.
    public init(base: String, adapters: [AdapterSpec], output: String) {
      self.base = base
      self.adapters = adapters
      self.output = WorkflowOutput(path: output)
      merge.tool = Checkpoint.toolName
    }
  }

  /// What ``merge(_:)`` did.
  public typealias MergeResult = SurgeryResult<LoRA.MergeReport>

  /// What the merge did, for terminals; `dtypes` are those the merged weights were written in.
  static func summary(_ merge: LoRA.MergeReport, dtypes: [String]) -> [String] {
    var out = [
      "merged \(merge.modules.count) LoRA modules (float64 accumulation, written as \(dtypes.joined(separator: ", ")))"
        + (merge.replaced.isEmpty ? "" : "; \(merge.replaced.count) tensors replaced by saved modules")
    ]
    out += merge.inferred.map { "  inferred: " + $0 }
    if !merge.skipped.isEmpty { out.append("  skipped \(merge.skipped.count) tensors of other adapter names") }
    return out
  }

  /// Reads an adapter folder: `adapter_config.json` and `adapter_model.safetensors` (else `adapter_model.bin`).
  public static func readAdapter(_ spec: AdapterSpec) throws -> LoRA.Adapter {
    let configPath = spec.path + "/adapter_config.json"
    let config: LoRA.AdapterConfig
    do {
      config = try LoRA.AdapterConfig(
        json: try JSONParser.parse(String(decoding: try FileSystem.readAll(configPath), as: UTF8.self)))
    } catch { throw error.inFile(configPath).on(.input) }
    let safetensors = spec.path + "/adapter_model.safetensors"
    let weights = FileSystem.exists(safetensors) ? safetensors : spec.path + "/adapter_model.bin"
    guard FileSystem.exists(weights) else {
      throw GraftError(
        .tensorNotFound, "no adapter_model.safetensors or adapter_model.bin in the adapter folder", file: spec.path
      ).on(.input)
    }
    return LoRA.Adapter(
      label: spec.path, config: config, tensors: try Checkpoint.read(path: weights), weight: spec.weight)
  }

  /// Merges, verifies with the engine, and writes only when every check passes.
  public static func merge(_ options: MergeOptions) throws -> MergeResult {
    let base = try Checkpoint.read(path: options.base, options: options.read)
    let adapters = try options.adapters.map(readAdapter)
    let (merged, report) = try LoRA.merge(base, adapters: adapters, options: options.merge)
    let dtypes = Set(report.modules.compactMap { base[$0.weightName]?.dtype.rawValue }).sorted()
    var result = MergeResult(
      report, json: ("merge", report.json), summary: summary(report, dtypes: dtypes), output: options.output.path,
      refused: "the merged model does not match the unmerged one")
    if options.verify {
      // A model folder's config.json lets the check run the whole decoder, unmerged against merged.
      let llm =
        HuggingFaceFolder.isModelFolder(options.base)
        ? try HuggingFaceFolder.open(options.base, options: options.read).llmConfiguration() : nil
      result.checks = try LoRACheck.verify(
        base: base, merged: merged, report: report, adapters: adapters, model: options.model, llm: llm)
    }
    return try options.output.finish(
      result, writing: merged, inputs: [options.base] + options.adapters.map(\.path))
  }
}
