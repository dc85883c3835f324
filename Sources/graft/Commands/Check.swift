import ArgumentParser
import Graft

/// `graft check`: run two checkpoints on the same inputs and compare outputs and hidden states.
struct Check: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Compare two checkpoints' forward passes (outputs and every block's hidden state).",
    discussion: """
      Builds both checkpoints with the CPU engine, runs them on the same input (a seeded random batch, or --input),
      and prints max abs error, max rel error, cosine similarity and arg-max agreement for the output, the pooled
      features and each block. A tensor passes when max|after − before| ≤ atol + rtol · max|before|.

      Default tolerances (rtol 1e-4, atol 1e-5) accept Float32 rounding noise from mathematically equivalent
      weights (≤ 1e-5 of the scale after 12 ViT-B blocks) and reject a BF16/F16 cast (≈ 1e-3–1e-2): for lossy
      surgery, pass a looser --rtol, such as 2e-2 for BF16.

      Exits 0 when every tensor is within tolerance, 1 otherwise, 2 when a checkpoint cannot be built.

      Examples:
        graft check vit.safetensors vit-bf16.safetensors --model vit --rtol 2e-2
        graft check before.pth after.graft --model vit --random 4 --seed 1 --json
      """)

  @Argument(help: "The checkpoint before the change.")
  var before: String
  @Argument(help: "The checkpoint after the change.")
  var after: String
  @Option(help: "The architecture: \(ModelArchitecture.allCases.map(\.rawValue).joined(separator: ", ")).")
  var model: String = "vit"
  @Option(help: "Input images as a float32 .npy of shape [N, C, H, W].")
  var input: String?
  @Option(help: "The batch size of the random input.")
  var random: Int = 2
  @Option(help: "The seed of the random input.")
  var seed: UInt64 = 0
  @Option(help: "The number of attention heads (default: checkpoint metadata, else width / 64).")
  var heads: Int?
  @Option(help: "Absolute tolerance.")
  var atol: Double = 1e-5
  @Option(help: "Tolerance relative to max|before| of each tensor.")
  var rtol: Double = 1e-4
  @Flag(help: "Compare only the outputs, not every block's hidden state.")
  var outputsOnly = false
  @Flag(help: "Print the report as JSON instead of a table.")
  var json = false

  func validate() throws {
    if ModelArchitecture(rawValue: model) == nil { throw ValidationError("unknown --model '\(model)'") }
    if random < 1 { throw ValidationError("--random needs a positive batch size") }
    if atol < 0 || rtol < 0 { throw ValidationError("tolerances must not be negative") }
  }

  func run() throws {
    var passed = true
    try Failure.reporting {
      let tableBefore = try Checkpoint.read(path: before)
      let tableAfter = try Checkpoint.read(path: after)
      var options = CheckOptions(
        architecture: ModelArchitecture(rawValue: model) ?? .vit, model: VisionTransformer.Options(heads: heads),
        batch: random, seed: seed, atol: atol, rtol: rtol, compareHiddenStates: !outputsOnly)
      if let input { options.input = try NpyFile.read(path: input) }
      let report: CheckReport
      do {
        report = try ModelCheck.compare(before: tableBefore, after: tableAfter, options: options)
      } catch let error as GraftError {
        var e = error
        if e.file == "before" { e.file = before } else if e.file == "after" { e.file = after }
        throw e
      }
      if json {
        print(report.json.serialized(.pythonIndent2))
      } else {
        print("before: \(before)\nafter:  \(after)")
        print(report.renderTable())
      }
      passed = report.passed
    }
    if !passed { throw Failure.mismatch }
  }
}
