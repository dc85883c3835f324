/// EMA extraction and training-state stripping as one call: keep one set of weights from a training checkpoint,
/// drop the rest (reported by size), write, and read the output back to prove the kept tensors are byte-identical.
public enum EMAWorkflow {
  /// Options of ``extract(_:)``.
  public struct Options: Sendable {
    /// The training checkpoint.
    public var input: String
    /// Where and how to write the kept weights.
    public var output: WorkflowOutput
    /// The pass (source section, prefixes to strip).
    public var extract = EMAExtract.Options()
    /// Whether to read the output back and compare it.
    public var verify = true

    /// Creates options.
    public init(input: String, output: String) {
      self.input = input
      self.output = WorkflowOutput(path: output)
      extract.tool = Checkpoint.toolName
    }
  }

  /// What ``extract(_:)`` did.
  public struct Result: CheckedResult {
    /// The pass's report.
    public var extraction: EMAExtract.Report
    /// The read-back check, unless verification was turned off.
    public var checks: CheckReport?
    /// What was written.
    public var written: WriteSummary
    /// The output path.
    public var output: String

    /// The report for terminals.
    public var lines: [String] {
      let s = extraction.source
      var out = [
        "kept '\(s.path.isEmpty ? "(root)" : s.path)' (\(s.role.rawValue)): \(extraction.keptTensors) tensors, "
          + Format.bytes(s.bytes)
      ]
      for d in extraction.dropped {
        out.append("  dropped '\(d.path)' (\(d.role.rawValue)): \(d.tensors) tensors, \(Format.bytes(d.bytes))")
      }
      if !extraction.droppedScalars.isEmpty {
        out.append(
          "  not carried: top-level values "
            + extraction.droppedScalars.map { String($0.dropFirst(11)) }
            .joined(separator: ", ") + " and any other non-tensor entries")
      }
      out += extraction.notes.map { "  note: " + $0 }
      out += checks?.lines ?? []
      out.append("wrote \(Format.bytes(written.bytesWritten)) to \(output)")
      return out
    }

    /// The pass and verification reports.
    public var json: JSONValue {
      .object(JSONObject([("ema", extraction.json), ("verification", checks?.json ?? .null)]))
    }
  }

  /// Reads every tensor-holding part of a checkpoint: a PyTorch file's state-dict candidates by their exact paths,
  /// any other format as one root part.
  public static func sections(of path: String) throws -> TrainingCheckpoint {
    guard try Checkpoint.detect(path: path).format == .pytorch else {
      var root = try Checkpoint.read(path: path)
      let metadata = root.metadata
      root.metadata = JSONObject()
      return TrainingCheckpoint(sections: [.init(path: "", table: root)], metadata: metadata)
    }
    do {
      return TrainingCheckpoint(parts: try PyTorchCheckpoint.open(path: path).stateDictTables())
    } catch { throw error.side == nil ? error.on(.input) : error }
  }

  /// Keeps one section, writes it, and reads it back.
  public static func extract(_ options: Options) throws -> Result {
    let checkpoint = try sections(of: options.input)
    let (table, report) = try WorkflowFiles.naming(options.input) {
      try EMAExtract.extract(checkpoint, options: options.extract)
    }
    try options.output.writeReport(report.json, inputs: [options.input])
    let written = try options.output.write(table, inputs: [options.input], lineage: nil)
    var result = Result(extraction: report, checks: nil, written: written, output: options.output.path)
    if options.verify {
      result.checks = try WorkflowReadBack.compare(
        options.output.path, expected: table, nestedUnder: options.output.write.nestUnder, kind: "ema",
        columns: [.init("value", "differences", width: 11)])
      try options.output.writeReport(result.json, inputs: [options.input])
    }
    return result
  }
}
