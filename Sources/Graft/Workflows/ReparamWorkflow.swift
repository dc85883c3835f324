/// Structural re-parameterisation as one call: fold RepVGG / ACB blocks (and, when asked, every Conv + BN pair)
/// into single convolutions, verify every block in the engine, and write.
public enum ReparamWorkflow {
  /// Options of ``run(_:)``.
  public struct Options: Sendable {
    /// The training-time checkpoint.
    public var input: String
    /// Where and how to write the deploy checkpoint.
    public var output: WorkflowOutput
    /// How to read the input.
    public var read = Checkpoint.ReadOptions()
    /// The pass itself (BN folding, ε).
    public var reparam = Reparam.Options()
    /// Whether to run the engine checks (and refuse to write when one fails).
    public var verify = true

    /// Creates options.
    public init(input: String, output: String) {
      self.input = input
      self.output = WorkflowOutput(path: output)
      reparam.tool = Checkpoint.toolName
    }
  }

  /// What ``run(_:)`` did.
  public struct Result: WorkflowResult {
    /// The pass's report.
    public var reparam: Reparam.Report
    /// The checks, unless verification was turned off.
    public var checks: CheckReport?
    /// What was written; `nil` when a check failed.
    public var written: WriteSummary?
    /// The output path.
    public var output: String

    /// Whether every check passed.
    public var passed: Bool { checks?.passed ?? true }

    /// The report for terminals.
    public var lines: [String] {
      var kinds: [String: Int] = [:]
      for b in reparam.blocks { kinds[b.kind.rawValue, default: 0] += 1 }
      let out = [
        "folded \(reparam.blocks.count) blocks ("
          + kinds.sorted { $0.key < $1.key }.map { "\($1) \($0)" }
          .joined(separator: ", ") + "); removed \(reparam.removed.count) tensors",
        "BatchNorm ε = \(reparam.epsilon): \(reparam.epsilonSource)",
      ]
      return out
        + WorkflowLines.closing(
          checks: checks, written: written, to: output, refused: "a fused block does not match its training-time form")
    }

    /// The pass and verification reports.
    public var json: JSONValue {
      .object(JSONObject([("reparam", reparam.json), ("verification", checks?.json ?? .null)]))
    }
  }

  /// Folds, verifies with the engine, and writes only when every block matches.
  public static func run(_ options: Options) throws -> Result {
    let table = try Checkpoint.read(path: options.input, options: options.read)
    let (folded, report) = try WorkflowFiles.naming(table) {
      try Reparam.reparameterize(table, options: options.reparam)
    }
    var result = Result(reparam: report, checks: nil, written: nil, output: options.output.path)
    if options.verify {
      result.checks = try WorkflowFiles.naming(table) {
        try ReparamCheck.verify(before: table, after: folded, report: report)
      }
    }
    try options.output.writeReport(result.json, inputs: [options.input])
    guard result.passed else { return result }
    result.written = try options.output.write(folded, inputs: [options.input], lineage: nil)
    return result
  }
}
