import ArgumentParser
import Graft

/// `graft run`: build a model from a checkpoint and run it on the CPU engine.
struct Run: ParsableCommand {
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
      """)

  @Argument(help: "A checkpoint file (any format graft reads).") var checkpoint: String
  @Option(help: "The architecture.") var model = ModelArchitecture.vit
  @Option(help: "Input images [N, C, H, W] (a .npy, or any file holding one float array).") var input: String?
  @Option(help: "Run on N pseudo-random images instead of --input.") var random: Int?
  @Option(help: "The seed for --random.") var seed: UInt64 = 0
  @Option(help: "Write the output (logits, or features without a head) to this .npy file.") var output: String?
  @Option(name: .customLong("repeat"), help: "Timed repetitions (after one untimed warm-up when more than one).")
  var repetitions = 1
  @Flag(help: "Print the run as JSON.") var json = false
  @OptionGroup var reading: ReadingOptions
  @OptionGroup(title: "ViT architecture (overrides metadata)") var vit: ModelOptions
  @OptionGroup var llm: LLMRunOptions

  func validate() throws {
    if input != nil && random != nil { throw ValidationError("pass either --input or --random, not both") }
    if let random, random < 1 { throw ValidationError("--random needs a positive batch size") }
    if repetitions < 1 { throw ValidationError("--repeat must be at least 1") }
  }

  func run() throws {
    try Failure.reporting {
      let isLLM = LLMRunWorkflow.accepts(checkpoint)
      try llm.refuseMismatch(
        isLLM: isLLM, imageFlags: vit.givenFlags.merging(["--input": input != nil, "--random": random != nil]) { $1 })
      if isLLM { return try llm.run(model: checkpoint, output: output, reading: reading, json: json) }
      var o = RunWorkflow.Options(checkpoint: checkpoint)
      o.read = reading.readOptions
      o.architecture = model
      o.model = vit.model
      o.input = input.map { .file($0) } ?? .random(batch: random ?? 1, seed: seed)
      o.repetitions = repetitions
      o.outputPath = output
      let result = try RunWorkflow.run(o)
      Failure.print(json: json, result.json, text: result.lines.joined(separator: "\n"))
    }
  }
}
