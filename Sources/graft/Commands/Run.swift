import ArgumentParser
import Graft

struct Run: WorkflowCommand {
  static let configuration = CommandConfiguration(
    abstract: "Run a checkpoint on the CPU forward engine.",
    discussion: """
      Builds the model: each value from a flag, else the checkpoint's metadata (or a config.json beside it), else \
      tensor names and shapes, printed with its source (undetermined ones are refused naming their flag). Runs it \
      on an input file or on a seeded random batch, prints the output's shape, a few values and the timing, and writes \
      the output as .npy. The engine computes in Float32 whatever the checkpoint stores. With --repeat N > 1, one \
      untimed warm-up runs first; a single run is timed cold.

      Examples:
        graft run vit_s16.safetensors --model vit --random 2 --seed 0
        graft run vit.pth --input images.npy --output logits.npy
        graft run vit.pth --heads 6 --global-pool token --act gelu
        graft run llama-folder/ --tokens 1,450,4996 --generate 8 --output logits.npy
        graft run llama-q8_0.gguf --tokens 1,450,4996
      """)

  @Argument(help: "A checkpoint file (any format graft reads), a Hugging Face model folder or a GGUF model.")
  var checkpoint: String
  @Option(help: "The architecture.") var model = ModelArchitecture.vit
  @Option(help: "Input images [N, C, H, W] (a .npy, or any file holding one float array).") var input: String?
  @Option(help: "Run on N pseudo-random images instead of --input.") var random: Int?
  @Option(help: "The seed for --random.") var seed: UInt64 = 0
  @Option(help: "Write the output (logits, or features without a head) to this .npy file.") var output: String?
  @Option(name: .customLong("repeat"), help: "Timed repetitions (after one untimed warm-up when more than one).")
  var repetitions = 1
  @Option(help: "Language models: token ids such as 1,2,3 (repeat for a batch of equal-length sequences).")
  var tokens: [String] = []
  @Option(help: "Language models: token ids in an integer array file, [T] or [B, T].") var tokensFile: String?
  @Option(help: "Language models: greedy decoding steps after the prompt (KV cache); prints the token ids.")
  var generate = 0
  @Option(help: "Language models: the most likely next tokens printed per position.") var top = 3
  @OptionGroup var printing: PrintOptions
  @OptionGroup var reading: ReadingOptions
  @OptionGroup(title: "ViT architecture (overrides metadata)") var vit: ModelOptions

  func validate() throws {
    if input != nil && random != nil { throw ValidationError("pass either --input or --random, not both") }
    if !tokens.isEmpty && tokensFile != nil { throw ValidationError("pass either --tokens or --tokens-file") }
    if let random, random < 1 { throw ValidationError("--random needs a positive batch size") }
    if repetitions < 1 || top < 0 { throw ValidationError("--repeat must be at least 1, --top at least 0") }
  }

  func workflow() throws -> any WorkflowResult {
    var o = RunWorkflow.Options(checkpoint: checkpoint)
    (o.read, o.architecture, o.model, o.repetitions, o.outputPath) = (
      reading.readOptions, model, vit.model, repetitions, output
    )
    o.input = input.map { .file($0) } ?? random.map { .random(batch: $0, seed: seed) }
    o.tokens = try tokensFile.map { try LLMTokens.read($0) } ?? tokens.map { try LLMTokens.parse($0) }
    (o.generate, o.topTokens) = (generate, top)
    return try RunWorkflow.execute(o)
  }
}
