/// Where a surgery workflow writes its result, and the side files it may write.
public struct WorkflowOutput: Sendable {
  /// The output checkpoint's path.
  public var path: String
  /// The output format; `nil` picks it from the path's extension.
  public var format: CheckpointFormat?
  /// How to write it (its `inputs` and `lineage` are filled in by the workflow).
  public var write = Checkpoint.WriteOptions()
  /// Also write the workflow's report (transformation + checks) as JSON to this path.
  public var reportPath: String?

  /// Creates an output description.
  public init(path: String, format: CheckpointFormat? = nil) {
    self.path = path
    self.format = format
  }

  /// Writes `table` with `lineage` (kept by `.graft` outputs), refusing to overwrite any of `inputs`.
  func write(_ table: TensorTable, inputs: [String], lineage: LineageRecord?) throws -> WriteSummary {
    var options = write
    options.inputs = inputs
    options.lineage = lineage
    return try Checkpoint.write(table, to: path, format: format, options: options)
  }

  /// Writes `json` to ``reportPath`` when one is set.
  func writeReport(_ json: JSONValue, inputs: [String]) throws {
    guard let reportPath else { return }
    try WorkflowFiles.writeJSON(json, to: reportPath, inputs: inputs)
  }

  /// The end of every gated surgery: writes the report (when asked for), then `table` only when `result` passed.
  func finish<Result: GatedResult>(
    _ result: Result, writing table: TensorTable, inputs: [String], lineage: LineageRecord? = nil
  ) throws -> Result {
    try writeReport(result.json, inputs: inputs)
    guard result.passed else { return result }
    var result = result
    result.written = try write(table, inputs: inputs, lineage: lineage)
    return result
  }
}

/// Side files of workflows (manifests, reports), written atomically like checkpoints.
enum WorkflowFiles {
  /// Runs a pass or a check over `table`; a ``GraftError`` it throws that names no file gets the file the table was
  /// read from (``TensorTable/source``), since passes and checks see tables, not files.
  static func naming<T>(_ table: TensorTable, _ body: () throws -> T) throws -> T {
    try naming(table.source, body)
  }

  /// Runs `body`; a ``GraftError`` it throws that names no file gets `file`.
  static func naming<T>(_ file: String?, _ body: () throws -> T) throws -> T {
    do { return try body() } catch let error as GraftError {
      guard let file else { throw error }
      throw error.inFile(file)
    }
  }

  /// Writes `json` (Python's `indent=2` style) atomically; a failure is the output's.
  static func writeJSON(_ json: JSONValue, to path: String, inputs: [String]) throws {
    do { try FileSystem.writeAll(json.serializedBytes(.pythonIndent2), to: path, inputs: inputs) } catch {
      throw error.side == nil ? error.on(.output) : error
    }
  }
}

/// What every surgery workflow returns: the verdict, the lines a terminal shows, and the same report as data.
public protocol WorkflowResult: Sendable {
  /// Whether every check passed (and so whether the output was written).
  var passed: Bool { get }
  /// The report for terminals, in order: what was done, the checks, what was written.
  var lines: [String] { get }
  /// The report as data (`--json`).
  var json: JSONValue { get }
}

/// A result whose verdict is its checks': with verification turned off there are none, and it passes.
public protocol CheckedResult: WorkflowResult {
  /// The checks, unless verification was turned off.
  var checks: CheckReport? { get }
}

extension CheckedResult {
  /// Whether every check passed.
  public var passed: Bool { checks?.passed ?? true }
}

/// A result whose output is written only when every check passed.
public protocol GatedResult: CheckedResult {
  /// What was written; `nil` when a check failed.
  var written: WriteSummary? { get set }
}

/// What a verified pass did: its report, the checks, and what was written (only when every check passed).
public struct SurgeryResult<Report: Sendable>: GatedResult {
  /// The pass's report.
  public var report: Report
  /// The checks, unless verification was turned off.
  public var checks: CheckReport?
  /// What was written; `nil` when a check failed.
  public var written: WriteSummary?
  /// The output path.
  public var output: String
  /// What the pass did, one line each.
  public var summary: [String]
  /// The key of the pass's report in ``json`` and the report as data.
  let reportJSON: (key: String, value: JSONValue)
  /// Why nothing is written when a check fails.
  let refused: String

  /// Creates a result before the checks and the write.
  init(_ report: Report, json: (String, JSONValue), summary: [String], output: String, refused: String) {
    self.report = report
    self.summary = summary
    self.output = output
    self.reportJSON = json
    self.refused = refused
  }

  /// The summary, the checks (or a line saying they were skipped), then what was written or why nothing was.
  public var lines: [String] {
    summary + (checks?.lines ?? ["  not verified (--no-verify)"])
      + [written.map { "wrote \(Format.bytes($0.bytesWritten)) to \(output)" } ?? "not written: " + refused]
  }

  /// The pass and verification reports.
  public var json: JSONValue {
    .object(JSONObject([(reportJSON.key, reportJSON.value), ("verification", checks?.json ?? .null)]))
  }
}
