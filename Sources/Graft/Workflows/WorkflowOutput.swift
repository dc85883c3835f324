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
