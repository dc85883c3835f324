/// Mr.DETR's strip as one call: remove the training-only auxiliary routes, write, read the output back, and prove in
/// the engine that the primary route's outputs are unchanged.
public enum MrDETRWorkflow {
  /// Options of ``strip(_:)``.
  public struct StripOptions: Sendable {
    /// The Mr.DETR checkpoint: a detectron2 training checkpoint (`model`, `trainer`, `ema_state`) or a state dict.
    public var input: String
    /// Where and how to write the result; `.pth` outputs nest under ``nestUnder``.
    public var output: WorkflowOutput
    /// The strip itself (variant, label encoder, layout, EMA, unknown keys).
    public var strip = MrDETRStripOptions()
    /// For `.pth` output: the key the state dict is nested under (detrex/detectron2 load `model`); `nil` for a bare
    /// state dict.
    public var nestUnder: String? = "model"
    /// The attention heads of the verifying engine (not visible in shapes; 8 in every released config).
    public var heads = 8
    /// Whether to read the output back and run the engine comparison.
    public var verify = true

    /// Creates options.
    public init(input: String, output: String) {
      self.input = input
      self.output = WorkflowOutput(path: output)
    }
  }

  /// What ``strip(_:)`` did.
  public struct StripResult: CheckedResult {
    /// The strip's report (what was removed, kept, renamed).
    public var strip: MrDETRStripReport
    /// The read-back and engine checks, unless verification was turned off.
    public var checks: CheckReport?
    /// What was written.
    public var written: WriteSummary
    /// The output path.
    public var output: String

    /// The report for terminals.
    public var lines: [String] {
      strip.lines + ["wrote \(output): \(Format.bytes(written.bytesWritten))"] + (checks?.lines ?? [])
    }

    /// The strip report with the checks.
    public var json: JSONValue {
      var o = strip.json.objectValue ?? JSONObject()
      o["verified"] = .bool(passed)
      o["verification"] = checks?.json ?? .null
      return .object(o)
    }
  }

  /// Strips, writes, and (unless turned off) reads the output back and compares full and stripped models.
  ///
  /// The output is written before the checks because one of them reads the written file; when a check fails the
  /// result says so (`passed == false`) and the file stays for inspection.
  public static func strip(_ options: StripOptions) throws -> StripResult {
    let source = try load(options.input, useEMA: options.strip.useEMA)
    let stripped: MrDETRStripResult
    let full: TensorTable
    switch source {
    case .container(let c):
      stripped = try WorkflowFiles.naming(options.input) { try MrDETRStrip.run(c, options: options.strip) }
      full = options.strip.useEMA ? (c.emaState ?? c.model) : c.model
    case .stateDict(let t):
      stripped = try WorkflowFiles.naming(t) { try MrDETRStrip.run(t, options: options.strip) }
      full = t
    }
    var output = options.output
    output.write.nestUnder = options.nestUnder
    let r = stripped.report
    let lineage = LineageRecord(
      operation: "mrdetr.strip", tool: Checkpoint.toolName,
      parameters: .object(
        JSONObject([
          ("variant", .string(r.variant.rawValue)), ("drop_label_enc", .bool(options.strip.dropLabelEncoder)),
          ("layout", .string(options.strip.layout.rawValue)), ("source", .string(r.source)),
          ("removed_parameters", .integer(r.removedParameters)),
        ])))
    let written = try output.write(stripped.table, inputs: [options.input], lineage: lineage)
    var result = StripResult(strip: r, checks: nil, written: written, output: output.path)
    if options.verify {
      var checks = try WorkflowReadBack.compare(
        output.path, expected: stripped.table, nestedUnder: options.nestUnder, kind: "mrdetr",
        columns: MrDETRCheck.columns)
      checks.append(
        contentsOf: MrDETRCheck.verify(
          full: full, stripped: stripped.table, layout: options.strip.layout, heads: options.heads))
      result.checks = checks
    }
    try output.writeReport(result.json, inputs: [options.input])
    return result
  }

  /// A Mr.DETR input: a detectron2 training checkpoint or a plain state dict.
  enum Source {
    case container(DetectronTrainingCheckpoint)
    case stateDict(TensorTable)
  }

  /// Reads a `.pth` training checkpoint whole (flattened from the root, so `model.`, `ema_state.` and `trainer.`
  /// entries all show) or any other format as a state dict.
  static func load(_ path: String, useEMA: Bool) throws -> Source {
    var o = Checkpoint.ReadOptions()
    if try Checkpoint.detect(path: path).format == .pytorch {
      o.select = ""
      // A root that does not read as tensors is no training checkpoint; it is read below as a state dict.
      if let whole = try? Checkpoint.read(path: path, options: o), DetectronTrainingCheckpoint.isContainer(whole) {
        return .container(try DetectronTrainingCheckpoint(flattened: whole))
      }
      o.select = nil
    }
    return .stateDict(try Checkpoint.read(path: path, options: o))
  }
}
