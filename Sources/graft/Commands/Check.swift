import ArgumentParser
import Graft

/// `graft check`: run two checkpoints on the same inputs and compare outputs and hidden states.
struct Check: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Compare two checkpoints' forward passes (outputs and every block's hidden state).",
    discussion: """
      Builds both checkpoints with the CPU engine, runs them on the same input (a seeded random batch, or --input), \
      and prints for the output, the pooled features and each block: max|Δ|, max|before|, their ratio, the bound, \
      the cosine similarity and arg-max agreement. A tensor passes when max|after − before| ≤ atol + rtol · \
      max|before|.

      Default tolerances (rtol 1e-4, atol 1e-5) accept Float32 rounding noise from mathematically equivalent \
      weights (≤ 1e-5 of the scale after 12 ViT-B blocks) and reject a BF16/F16 cast (≈ 1e-3–1e-2): for lossy \
      surgery, pass a looser --rtol, such as 2e-2 for BF16.

      Exits 0 when every tensor is within tolerance, 1 otherwise, 2 when a checkpoint cannot be built.

      Examples:
        graft check vit.safetensors vit-bf16.safetensors --model vit --rtol 2e-2
        graft check before.pth after.graft --model vit --random 4 --seed 1 --json
        graft check llama/ llama-moe/ --random 2 --tokens-per-sequence 32
      """)

  @Argument(help: "The checkpoint before the change.") var before: String
  @Argument(help: "The checkpoint after the change.") var after: String
  @Option(help: "The architecture.") var model = ModelArchitecture.vit
  @Option(help: "Input images [N, C, H, W] (a .npy, or any file holding one float array).") var input: String?
  @Option(help: "The batch size of the random input.") var random = 2
  @Option(help: "The seed of the random input.") var seed: UInt64 = 0
  @Option(help: "Absolute tolerance.") var atol = 1e-5
  @Option(help: "Tolerance relative to max|before| of each tensor.") var rtol = 1e-4
  @Flag(help: "Compare only the outputs, not every block's hidden state.") var outputsOnly = false
  @Flag(help: "Print the report as JSON instead of a table.") var json = false
  @OptionGroup var reading: ReadingOptions
  @OptionGroup(title: "ViT architecture (overrides metadata)") var vit: ModelOptions
  @OptionGroup var llm: LLMCheckOptions

  func validate() throws {
    if random < 1 { throw ValidationError("--random needs a positive batch size") }
    if atol < 0 || rtol < 0 { throw ValidationError("tolerances must not be negative") }
  }

  func run() throws {
    try Failure.checking {
      try vit.refuse(forModelFolder: CheckWorkflow.isLLM(before) || CheckWorkflow.isLLM(after))
      let options = CheckOptions(
        architecture: model, model: vit.model, batch: random, seed: seed, atol: atol,
        rtol: rtol, compareHiddenStates: !outputsOnly)
      let report = try CheckWorkflow.compare(
        before: before, after: after, read: reading.readOptions, input: input ?? llm.tokensFile, options: options,
        tokensPerSequence: llm.tokensPerSequence)
      Failure.print(json: json, report.json, text: report.lines.joined(separator: "\n"))
      return report.passed
    }
  }
}
