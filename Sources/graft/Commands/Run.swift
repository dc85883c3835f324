import ArgumentParser
import Graft

/// `graft run`: build a model from a checkpoint and run it on the CPU engine.
struct Run: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Run a checkpoint on the CPU forward engine.",
    discussion: """
      Builds the model from the checkpoint's tensors (configuration inferred from names and shapes), runs it on a
      .npy input or on a seeded random batch, prints the output's shape, a few values and the timing, and writes
      the output as .npy. The engine computes in Float32 whatever the checkpoint stores.

      Examples:
        graft run vit_s16.safetensors --model vit --random 2 --seed 0
        graft run vit.pth --model vit --input images.npy --output logits.npy --heads 6
      """)

  @Argument(help: "A checkpoint file (any format graft reads).")
  var checkpoint: String
  @Option(help: "The architecture: \(ModelArchitecture.allCases.map(\.rawValue).joined(separator: ", ")).")
  var model: String = "vit"
  @Option(help: "Input images as a float32 .npy of shape [N, C, H, W].")
  var input: String?
  @Option(help: "Run on N pseudo-random images instead of --input.")
  var random: Int?
  @Option(help: "The seed for --random.")
  var seed: UInt64 = 0
  @Option(help: "Write the output (logits, or features without a head) to this .npy file.")
  var output: String?
  @Option(help: "The number of attention heads (default: checkpoint metadata, else width / 64).")
  var heads: Int?
  @Option(name: .customLong("repeat"), help: "Timed repetitions after one warm-up run.")
  var repetitions: Int = 1

  func validate() throws {
    if input != nil && random != nil { throw ValidationError("pass either --input or --random, not both") }
    if let random, random < 1 { throw ValidationError("--random needs a positive batch size") }
    if ModelArchitecture(rawValue: model) == nil { throw ValidationError("unknown --model '\(model)'") }
    if let heads, heads < 1 { throw ValidationError("--heads must be positive") }
    if repetitions < 1 { throw ValidationError("--repeat must be positive") }
  }

  func run() throws {
    try Failure.reporting {
      let architecture = ModelArchitecture(rawValue: model) ?? .vit
      let table = try Checkpoint.read(path: checkpoint)
      let clock = ContinuousClock()
      var built: (any ForwardModel)?
      let buildTime = try clock.measure {
        built = try architecture.build(table, options: VisionTransformer.Options(heads: heads))
      }
      guard let network = built else { return }
      let images: FloatTensor
      if let input {
        images = try NpyFile.read(path: input)
      } else {
        images = ModelCheck.randomInput(shape: [random ?? 1] + network.sampleShape, seed: seed)
      }
      var result = try network.forward(images, hiddenStates: false)
      var times: [Duration] = []
      for _ in 0..<repetitions {
        var r: ForwardOutputs?
        times.append(try clock.measure { r = try network.forward(images, hiddenStates: false) })
        if let r { result = r }
      }
      let out = result.output
      print("model: \(architecture.rawValue) \(network.configurationJSON.serialized())")
      print("engine: \(EngineBuildInfo.features), \(EngineBuildInfo.defaultThreadCount) threads")
      print("input: \(images.shape)\(input == nil ? " (random, seed \(seed))" : "")")
      print("output: \(out.shape)")
      let width = out.shape.last ?? out.count
      for row in 0..<min(out.count / max(width, 1), 4) {
        let values = out.values[(row * width)..<(row * width + min(width, 6))].map { "\($0)" }
        var line = "  [\(row)] " + values.joined(separator: ", ") + (width > 6 ? ", …" : "")
        if width > 1, let best = (0..<width).max(by: { out.values[row * width + $0] < out.values[row * width + $1] }) {
          line += "  argmax \(best)"
        }
        print(line)
      }
      let sorted = times.sorted()
      let median = sorted[sorted.count / 2]
      print(
        "build: \(milliseconds(buildTime)) ms; forward: median \(milliseconds(median)) ms over \(times.count) run(s)")
      if let output {
        try NpyFile.write(out, to: output)
        print("wrote \(output)")
      }
    }
  }
}

/// Milliseconds with two decimals.
func milliseconds(_ d: Duration) -> String {
  let ms = Double(d.components.seconds) * 1e3 + Double(d.components.attoseconds) * 1e-15
  let hundredths = Int((ms * 100).rounded())
  let frac = hundredths % 100
  return "\(hundredths / 100).\(frac < 10 ? "0" : "")\(frac)"
}

/// `.npy` input and output for `graft run` and `graft check`, through GraftFormats' NumPy reader and writer.
enum NpyFile {
  /// Reads an array of any float dtype (F32, F16, BF16, F64) as Float32.
  static func read(path: String) throws -> FloatTensor {
    let tensor = try NumPyFormat.readNPY(path: path)
    var table = TensorTable()
    try table.append("input", tensor)
    do {
      return try FloatTensor(
        shape: tensor.shape, values: WeightLoader(table: table).floats("input", shape: tensor.shape))
    } catch {
      throw GraftError(.invalidArgument, error.message, file: path)
    }
  }

  /// Writes a Float32 array.
  static func write(_ tensor: FloatTensor, to path: String) throws {
    _ = try NumPyFormat.writeNPY(Tensor(float32: tensor.values, shape: tensor.shape), to: path)
  }
}
