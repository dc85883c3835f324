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
  public typealias Result = SurgeryResult<Reparam.Report>

  /// What the pass did, for terminals.
  static func summary(_ report: Reparam.Report) -> [String] {
    var kinds: [String: Int] = [:]
    for b in report.blocks { kinds[b.kind.rawValue, default: 0] += 1 }
    return [
      "folded \(report.blocks.count) blocks ("
        + kinds.sorted { $0.key < $1.key }.map { "\($1) \($0)" }
        .joined(separator: ", ") + "); removed \(report.removed.count) tensors",
      "BatchNorm ε = \(report.epsilon): \(report.epsilonSource)",
    ]
  }

  /// Folds, verifies with the engine, and writes only when every block matches.
  public static func run(_ options: Options) throws -> Result {
    let table = try Checkpoint.read(path: options.input, options: options.read)
    let (folded, report) = try WorkflowFiles.naming(table) {
      try Reparam.reparameterize(table, options: options.reparam)
    }
    var result = Result(
      report, json: ("reparam", report.json), summary: summary(report), output: options.output.path,
      refused: "a fused block does not match its training-time form")
    if options.verify {
      result.checks = try WorkflowFiles.naming(table) {
        try ReparamCheck.verify(before: table, after: folded, report: report)
      }
    }
    return try options.output.finish(result, writing: folded, inputs: [options.input])
  }
}
