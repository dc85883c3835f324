extension LoRAWorkflow {
  /// Options of ``extract(_:)``.
  public struct ExtractOptions: Sendable {
    /// The base checkpoint.
    public var base: String
    /// The fine-tuned checkpoint (same names and shapes).
    public var tuned: String
    /// The adapter folder to write (`adapter_config.json`, `adapter_model.safetensors`).
    public var output: String
    /// How to read both checkpoints.
    public var read = Checkpoint.ReadOptions()
    /// The extraction (rank, targets, dtype).
    public var extract: LoRA.ExtractOptions
    /// Whether to run the engine checks (and refuse to write when one fails).
    public var verify = true
    /// Also write the report as JSON to this path.
    public var reportPath: String?

    /// Creates options.
    public init(base: String, tuned: String, output: String, rank: Int) {
      self.base = base
      self.tuned = tuned
      self.output = output
      extract = LoRA.ExtractOptions(rank: rank)
    }
  }

  /// What ``extract(_:)`` did (``SurgeryResult/output`` is the adapter folder).
  public typealias ExtractResult = SurgeryResult<LoRA.ExtractReport>

  /// What the extraction did, for terminals.
  static func summary(_ extraction: LoRA.ExtractReport) -> [String] {
    var out = ["extracted \(extraction.modules.count) LoRA modules (truncated SVD of W_tuned − W_base, float64)"]
    out += extraction.inferred.map { "  inferred: " + $0 }
    if !extraction.unrepresented.isEmpty {
      out.append(
        "warning: \(extraction.unrepresented.count) differing tensors are not in the adapter: "
          + extraction.unrepresented.prefix(4).map(\.name).joined(separator: ", "))
    }
    return out
  }

  /// Extracts an adapter, verifies every layer with the engine, and writes the peft folder when the checks pass.
  public static func extract(_ options: ExtractOptions) throws -> ExtractResult {
    let base = try Checkpoint.read(path: options.base, options: options.read)
    let tuned = try Checkpoint.read(path: options.tuned, options: options.read)
    let (tensors, config, report) = try LoRA.extract(base: base, tuned: tuned, options: options.extract)
    var result = ExtractResult(
      report, json: ("extract", report.json), summary: summary(report), output: options.output,
      refused: "an exact layer does not reproduce the tuned one")
    if options.verify {
      result.checks = try LoRACheck.verifyExtraction(base: base, tuned: tuned, adapter: tensors, report: report)
    }
    let inputs = [options.base, options.tuned]
    if let path = options.reportPath { try WorkflowFiles.writeJSON(result.json, to: path, inputs: inputs) }
    guard result.passed else { return result }
    if !FileSystem.isDirectory(options.output) {
      do { try FileSystem.makeDirectory(options.output) } catch { throw error.on(.output) }
    }
    result.written = try Checkpoint.write(
      tensors, to: options.output + "/adapter_model.safetensors", format: .safetensors,
      options: {
        var o = Checkpoint.WriteOptions()
        o.inputs = inputs
        return o
      }())
    try WorkflowFiles.writeJSON(config.json, to: options.output + "/adapter_config.json", inputs: inputs)
    return result
  }
}
