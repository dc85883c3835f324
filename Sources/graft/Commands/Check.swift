import ArgumentParser
import Graft

struct Check: WorkflowCommand {
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
  @Option(help: "Model folders: token ids [B, T] to run instead of seeded ones.") var tokensFile: String?
  @Option(help: "Model folders: the length of each seeded sequence.") var tokensPerSequence = 16
  @OptionGroup var printing: PrintOptions
  @OptionGroup var reading: ReadingOptions
  @OptionGroup(title: "ViT architecture (overrides metadata)") var vit: ModelOptions

  func validate() throws {
    if random < 1 || tokensPerSequence < 1 { throw ValidationError("--random and --tokens-per-sequence must be ≥ 1") }
    if atol < 0 || rtol < 0 { throw ValidationError("tolerances must not be negative") }
  }

  func workflow() throws -> any WorkflowResult {
    let options = CheckOptions(
      architecture: model, model: vit.model, batch: random, seed: seed, atol: atol, rtol: rtol,
      compareHiddenStates: !outputsOnly)
    return try CheckWorkflow.compare(
      before: before, after: after, read: reading.readOptions, input: input ?? tokensFile, options: options,
      tokensPerSequence: tokensPerSequence)
  }
}
