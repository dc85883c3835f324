/// Builds a model from a checkpoint and runs it on the CPU engine: `graft run` as a library call.
public enum RunWorkflow {
  /// What the model runs on.
  public enum Input: Sendable, Equatable {
    /// The single float tensor stored in a file of any format Graft reads (`[N, C, H, W]`).
    case file(String)
    /// `batch` seeded pseudo-random samples of the model's input shape.
    case random(batch: Int, seed: UInt64)
  }

  /// Options of ``run(_:)``.
  public struct Options: Sendable {
    /// The checkpoint.
    public var checkpoint: String
    /// How to read it.
    public var read = Checkpoint.ReadOptions()
    /// The architecture to build.
    public var architecture = ModelArchitecture.vit
    /// Engine model options (heads, …).
    public var model = VisionTransformer.Options()
    /// The input of an image model (`nil`: one seeded random sample).
    public var input: Input?
    /// Timed forward passes.
    ///
    /// One pass is timed as it is (cold); with more, one untimed warm-up runs first.
    public var repetitions = 1
    /// Write the output (logits, or features without a head) to this `.npy` file.
    public var outputPath: String?
    /// A model folder's equal-length token sequences (``execute(_:)``).
    public var tokens: [[Int32]] = []
    /// A model folder's greedy decoding steps after the prompt.
    public var generate = 0
    /// A model folder's most likely next tokens reported per position.
    public var topTokens = 3

    /// Creates options for a checkpoint.
    public init(checkpoint: String) { self.checkpoint = checkpoint }

    /// The model-folder options that were set, which an image model would not use.
    var languageModelOptions: [String] { (tokens.isEmpty ? [] : ["tokens"]) + (generate != 0 ? ["generate"] : []) }
  }

  /// What a run produced.
  public struct Result: Sendable {
    /// The architecture built.
    public var architecture: ModelArchitecture
    /// The model's configuration as built: each value with its source.
    public var configuration: JSONValue
    /// The configuration as `name = value (source)` lines.
    public var configurationLines: [String] = []
    /// The architecture description read beside the checkpoint, if any.
    public var metadataPath: String?
    /// How the input was made.
    public var inputDescription: String
    /// The input's shape.
    public var inputShape: [Int]
    /// The output.
    public var output: FloatTensor
    /// Seconds to build the model.
    public var buildSeconds: Double
    /// Seconds of each timed forward pass.
    public var forwardSeconds: [Double]
    /// The `.npy` written, if any.
    public var written: String?
    /// Which of several state dicts the checkpoint held was run, when it held several.
    public var collection: CollectionChoice? = nil

    /// The median forward time.
    public var medianSeconds: Double {
      let s = forwardSeconds.sorted()
      return s.isEmpty ? 0 : s[s.count / 2]
    }

    /// The report for terminals: configuration, engine, input, a few output values with their arg-max, timing.
    public var lines: [String] {
      var out = ["model: \(architecture.rawValue)" + (metadataPath.map { " (architecture metadata: \($0))" } ?? "")]
      if let note = collection?.note { out.append(note) }
      out += configurationLines.map { "  " + $0 }
      out += [
        "engine: \(EngineBuildInfo.features), \(EngineBuildInfo.defaultThreadCount) threads",
        "input: \(inputShape)\(inputDescription.isEmpty ? "" : " (\(inputDescription))")",
        "output: \(output.shape)",
      ]
      let width = output.shape.last ?? output.count
      for row in 0..<min(output.count / max(width, 1), 4) {
        let values = output.values[(row * width)..<(row * width + min(width, 6))].map { "\($0)" }
        var line = "  [\(row)] " + values.joined(separator: ", ") + (width > 6 ? ", …" : "")
        if width > 1,
          let best = (0..<width).max(by: { output.values[row * width + $0] < output.values[row * width + $1] })
        {
          line += "  argmax \(best)"
        }
        out.append(line)
      }
      out.append(
        "build: \(Format.fixed(buildSeconds * 1e3, digits: 2)) ms; forward: median "
          + "\(Format.fixed(medianSeconds * 1e3, digits: 2)) ms over \(forwardSeconds.count) run(s)"
          + (forwardSeconds.count > 1 ? " after one warm-up" : ""))
      if let written { out.append("wrote \(written)") }
      return out
    }

    /// The run as data (the output values included).
    public var json: JSONValue {
      .object(
        JSONObject([
          ("architecture", .string(architecture.rawValue)), ("configuration", configuration),
          ("architecture_metadata", metadataPath.map(JSONValue.string) ?? .null),
          ("input", .string(inputDescription)), ("input_shape", .array(inputShape.map(JSONValue.integer))),
          ("output_shape", .array(output.shape.map(JSONValue.integer))),
          ("output", .array(output.values.map { JSONValue.finite(Double($0)) })),
          ("build_seconds", .double(buildSeconds)), ("forward_seconds", .array(forwardSeconds.map(JSONValue.double))),
          ("written", written.map(JSONValue.string) ?? .null),
          ("state_dict", collection?.json ?? .null),
        ]))
    }
  }

  /// Reads, builds, runs and (optionally) writes the output.
  public static func run(_ options: Options) throws -> Result {
    try ModelInput.refuse(options.languageModelOptions, for: options.checkpoint, isLanguageModel: false)
    let table = try Checkpoint.read(path: options.checkpoint, options: options.read)
    let (model, metadataPath) = try ModelConfiguration.options(options.model, beside: options.checkpoint)
    let clock = ContinuousClock()
    let start = clock.now
    let network: any ForwardModel
    do { network = try options.architecture.build(table, options: model) } catch {
      throw error.inFile(options.checkpoint)
    }
    let buildTime = start.duration(to: clock.now)
    let images: FloatTensor
    let description: String
    switch options.input ?? .random(batch: 1, seed: 0) {
    case .file(let path):
      images = try FloatTensorFile.read(path)
      description = path
    case .random(let batch, let seed):
      images = ModelCheck.randomInput(shape: [max(1, batch)] + network.sampleShape, seed: seed)
      description = "random, seed \(seed)"
    }
    if options.repetitions > 1 { _ = try network.forward(images, hiddenStates: false) }
    var result: ForwardOutputs?
    var times: [Double] = []
    for _ in 0..<max(1, options.repetitions) {
      let t = try clock.measure { result = try network.forward(images, hiddenStates: false) }
      times.append(ModelCheck.seconds(t))
    }
    guard let out = result?.output else { throw GraftError(.invalidModel, "the forward pass returned nothing") }
    if let path = options.outputPath { try FloatTensorFile.write(out, to: path, inputs: [options.checkpoint]) }
    return Result(
      architecture: options.architecture, configuration: network.configurationJSON,
      configurationLines: network.configurationLines, metadataPath: metadataPath, inputDescription: description,
      inputShape: images.shape, output: out, buildSeconds: ModelCheck.seconds(buildTime), forwardSeconds: times,
      written: options.outputPath, collection: table.collection)
  }

  /// Runs a checkpoint of either kind: a language model (a model folder or a GGUF file) on ``Options/tokens``
  /// through ``LLMRunWorkflow``, anything else through ``run(_:)``.
  ///
  /// - Throws: `invalidArgument` resolved by the first option that applies only to the other kind of model.
  public static func execute(_ options: Options) throws -> any WorkflowResult {
    guard ModelInput.isLanguageModel(options.checkpoint) else { return try run(options) }
    let imageOnly: [String] =
      switch options.input {
      case .file: ["input"]
      case .random: ["random"]
      case nil: []
      }
    try ModelInput.refuse(imageOnly + options.model.given, for: options.checkpoint, isLanguageModel: true)
    var o = LLMRunWorkflow.Options(model: options.checkpoint)
    (o.read, o.tokens, o.generate, o.topTokens, o.outputPath) = (
      options.read, options.tokens, options.generate, options.topTokens, options.outputPath
    )
    return try LLMRunWorkflow.run(o)
  }
}

/// Compares two checkpoints' forward passes: `graft check` as a library call.
public enum CheckWorkflow {
  /// Reads both checkpoints (formats detected from content) and compares them with ``ModelCheck``, or, when either
  /// is a Hugging Face model folder, with ``LLMCheck`` (``compareLLM(before:after:read:tokens:options:)``).
  ///
  /// - Parameters:
  ///   - input: a file holding the input images (the token ids for LLMs), instead of the seeded random batch.
  ///   - options: the batch, seed, tolerances and hidden-state switch apply to both kinds of model.
  ///   - tokensPerSequence: the length of each seeded token sequence of an LLM comparison.
  public static func compare(
    before: String, after: String, read: Checkpoint.ReadOptions = .init(), input: String? = nil,
    options: CheckOptions = CheckOptions(), tokensPerSequence: Int = 16
  ) throws -> CheckReport {
    if isLLM(before) || isLLM(after) {
      try ModelInput.refuse(options.model.given, for: isLLM(before) ? before : after, isLanguageModel: true)
      var o = LLMCheck.Options()
      (o.batch, o.length, o.seed) = (options.batch, tokensPerSequence, options.seed)
      (o.atol, o.rtol, o.compareHiddenStates) = (options.atol, options.rtol, options.compareHiddenStates)
      return try compareLLM(before: before, after: after, read: read, tokens: input, options: o)
    }
    let tableBefore = try Checkpoint.read(path: before, options: read)
    let tableAfter = try Checkpoint.read(path: after, options: read)
    var options = options
    if let input { options.input = try FloatTensorFile.read(input) }
    // Each side reads the architecture description beside its own file.
    let (modelBefore, pathBefore) = try ModelConfiguration.options(options.model, beside: before)
    let (modelAfter, pathAfter) = try ModelConfiguration.options(options.model, beside: after)
    options.model = modelBefore
    options.modelAfter = modelAfter
    var report = try ModelCheck.compare(before: tableBefore, after: tableAfter, options: options)
    var header = ["before: \(before)", "after:  \(after)"]
    for (side, path) in [("before", pathBefore), ("after", pathAfter)] {
      if let path { header.append("architecture metadata (\(side)): \(path)") }
    }
    for (side, table) in [("before", tableBefore), ("after", tableAfter)] {
      if let note = table.collection?.note { header.append("\(side): \(note)") }
      if let collection = table.collection { report.facts["state_dict_\(side)"] = collection.json }
    }
    report.header.insert(contentsOf: header, at: 0)
    return report
  }
}

/// A single float array in a file, as the engine's input or output.
public enum FloatTensorFile {
  /// Reads the one tensor of a file of any format Graft reads (`.npy` typically), converted to Float32.
  ///
  /// - Throws: `invalidArgument` when the file holds more than one tensor or a non-float one.
  public static func read(_ path: String) throws -> FloatTensor {
    let table = try Checkpoint.read(path: path)
    guard table.storedEntries.count == 1, let entry = table.storedEntries.first else {
      throw GraftError(
        .invalidArgument, "holds \(table.storedEntries.count) arrays; expected exactly one input array", file: path)
    }
    do {
      return try FloatTensor(
        shape: entry.tensor.shape, values: WeightLoader(table: table).floats(entry.name, shape: entry.tensor.shape))
    } catch {
      throw GraftError(.invalidArgument, error.message, file: path, tensor: entry.name)
    }
  }

  /// Writes a Float32 array as `.npy`.
  public static func write(_ tensor: FloatTensor, to path: String, inputs: [String] = []) throws {
    do {
      _ = try NumPyFormat.writeNPY(Tensor(float32: tensor.values, shape: tensor.shape), to: path, inputs: inputs)
    } catch let error as GraftError {
      throw error.side == nil ? error.on(.output) : error
    }
  }
}
