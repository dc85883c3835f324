import ArgumentParser
import Graft

struct Diff: WorkflowCommand {
  static let configuration = CommandConfiguration(
    abstract: "Compare two checkpoints: missing and extra names, dtype and shape changes, value differences.",
    discussion: """
      Exits 0 when the checkpoints match (same names and shapes, values within |a−b| ≤ atol + rtol·|b|; NaN equals \
      NaN), 1 otherwise. With the default tolerances of 0, values must be equal (dtype changes are allowed if every \
      value is exactly representable in both).

      Example:
        graft diff model.safetensors model.graft
        graft diff model.safetensors model-bf16.safetensors --rtol 1e-2 --atol 1e-6
      """)

  @Argument(help: "The first checkpoint (A).") var a: String
  @Argument(help: "The second checkpoint (B).") var b: String
  @Option(help: "Absolute tolerance.") var atol: Double = 0
  @Option(help: "Relative tolerance.") var rtol: Double = 0
  @Flag(help: "Also list tensors that are identical.") var all = false
  @OptionGroup var printing: PrintOptions
  @OptionGroup var reading: ReadingOptions

  func workflow() throws -> any WorkflowResult {
    let ta = try Checkpoint.read(path: a, options: reading.readOptions)
    let tb = try Checkpoint.read(path: b, options: reading.readOptions)
    let diff = try CheckpointDiff.compare(ta, tb, atol: atol, rtol: rtol)
    return WorkflowReport(passed: diff.matches, text: diff.render(showMatching: all), json: diff.json)
  }
}
