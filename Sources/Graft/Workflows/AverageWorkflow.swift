/// Checkpoint averaging and interpolation as one call each: read the inputs (lazily), combine tensor by tensor,
/// check sampled elements against the rule, and stream the result to the writer.
public enum AverageWorkflow {
  /// Options of ``average(_:)``.
  public struct Options: Sendable {
    /// The checkpoints, in order (integer tensors come from the last).
    public var inputs: [String]
    /// Where and how to write the result.
    public var output: WorkflowOutput
    /// How to read the inputs.
    public var read = Checkpoint.ReadOptions()
    /// The averaging rule (weights, timm compatibility).
    public var average = CheckpointAverage.Options()
    /// Whether to check sampled elements (and refuse to write when one differs).
    public var verify = true

    /// Creates options.
    public init(inputs: [String], output: String) {
      self.inputs = inputs
      self.output = WorkflowOutput(path: output)
      average.tool = Checkpoint.toolName
    }
  }

  /// Options of ``interpolate(_:)``.
  public struct InterpolationOptions: Sendable {
    /// The checkpoint at t = 0.
    public var a: String
    /// The checkpoint at t = 1.
    public var b: String
    /// The position.
    public var t: Double
    /// Linear or spherical.
    public var method = CheckpointAverage.Method.linear
    /// Where and how to write the result.
    public var output: WorkflowOutput
    /// How to read the inputs.
    public var read = Checkpoint.ReadOptions()
    /// Whether to check sampled elements.
    public var verify = true

    /// Creates options.
    public init(a: String, b: String, t: Double, output: String) {
      self.a = a
      self.b = b
      self.t = t
      self.output = WorkflowOutput(path: output)
    }
  }

  /// What a combination did.
  public typealias Result = SurgeryResult<CheckpointAverage.Report>

  /// What the pass did, for terminals.
  static func summary(_ c: CheckpointAverage.Report) -> [String] {
    var out = [
      "\(c.rule): \(c.inputs) checkpoints, \(c.combined) tensors combined in float64"
        + (c.weights.map { " with weights " + $0.map { "\($0)" }.joined(separator: ", ") } ?? "")
        + (c.takenFromLast.isEmpty ? "" : "; \(c.takenFromLast.count) integer tensors from the last")
    ]
    if !c.linearFallbacks.isEmpty {
      out.append("  slerp fell back to linear for \(c.linearFallbacks.count) nearly colinear or zero tensors")
    }
    return out
  }

  /// Averages N checkpoints.
  public static func average(_ options: Options) throws -> Result {
    let tables = try options.inputs.map { try Checkpoint.read(path: $0, options: options.read) }
    let (table, report) = try CheckpointAverage.average(tables, options: options.average)
    let rule = options.average.weights.map(AverageCheck.Rule.weighted) ?? .mean
    return try finish(
      table, report, inputs: tables, rule: rule, timm: options.average.timmCompatible, paths: options.inputs,
      output: options.output, verify: options.verify)
  }

  /// Interpolates two checkpoints.
  public static func interpolate(_ options: InterpolationOptions) throws -> Result {
    let a = try Checkpoint.read(path: options.a, options: options.read)
    let b = try Checkpoint.read(path: options.b, options: options.read)
    let (table, report) = try CheckpointAverage.interpolate(
      a, b, t: options.t, method: options.method, tool: Checkpoint.toolName)
    return try finish(
      table, report, inputs: [a, b], rule: .interpolation(t: options.t, method: options.method), timm: false,
      paths: [options.a, options.b], output: options.output, verify: options.verify)
  }

  private static func finish(
    _ table: TensorTable, _ report: CheckpointAverage.Report, inputs: [TensorTable], rule: AverageCheck.Rule,
    timm: Bool, paths: [String], output: WorkflowOutput, verify: Bool
  ) throws -> Result {
    var result = Result(
      report, json: ("combination", report.json), summary: summary(report), output: output.path,
      refused: "a sampled element differs from the rule")
    if verify { result.checks = try AverageCheck.verify(inputs: inputs, output: table, rule: rule, timm: timm) }
    return try output.finish(result, writing: table, inputs: paths)
  }
}
