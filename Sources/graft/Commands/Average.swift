import ArgumentParser
import Graft

struct AverageCommand: WorkflowCommand {
  static let configuration = CommandConfiguration(
    commandName: "average", abstract: "Average N checkpoints of one architecture in float64, tensor by tensor.",
    discussion: """
      Integer buffers come from the last checkpoint unless --timm.

      Example:
        graft average a.pth b.pth c.pth -o avg.safetensors --weights 0.2,0.3,0.5
      """)

  @Argument(help: "The checkpoints.") var inputs: [String]
  @Option(name: .shortAndLong, help: "The output path.") var output: String
  @Option(help: "Comma-separated weights, one per checkpoint (default: the mean).") var weights: String?
  @Flag(help: "timm avg_checkpoints' output: integers averaged too, every tensor float32.") var timm = false
  @OptionGroup var surgery: SurgeryOptions
  @OptionGroup var printing: PrintOptions

  func workflow() throws -> any WorkflowResult {
    var o = try surgery.apply(to: AverageWorkflow.Options(inputs: inputs, output: output))
    o.average.weights = try weights.map { try $0.split(separator: ",").map(Self.number) }
    o.average.timmCompatible = timm
    return try AverageWorkflow.average(o)
  }

  static func number(_ s: Substring) throws -> Double {
    guard let v = Double(s) else { throw ValidationError("'\(s)' is not a number") }
    return v
  }
}

struct InterpolateCommand: WorkflowCommand {
  static let configuration = CommandConfiguration(
    commandName: "interpolate", abstract: "Interpolate two checkpoints: (1−t)·A + t·B, or per-tensor SLERP.",
    discussion: "Example:\n  graft interpolate a.pth b.pth -o mid.safetensors --t 0.3 --slerp")

  @Argument(help: "The checkpoint at t = 0.") var a: String
  @Argument(help: "The checkpoint at t = 1.") var b: String
  @Option(name: .shortAndLong, help: "The output path.") var output: String
  @Option(help: "The position t.") var t: Double
  @Flag(help: "Spherical interpolation per tensor (linear when nearly colinear).") var slerp = false
  @OptionGroup var surgery: SurgeryOptions
  @OptionGroup var printing: PrintOptions

  func workflow() throws -> any WorkflowResult {
    var o = try surgery.apply(to: AverageWorkflow.InterpolationOptions(a: a, b: b, t: t, output: output))
    o.method = slerp ? .slerp : .linear
    return try AverageWorkflow.interpolate(o)
  }
}
