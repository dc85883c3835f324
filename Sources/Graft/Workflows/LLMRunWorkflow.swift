/// Runs a Hugging Face decoder-only model folder on token ids: `graft run MODEL_DIR --tokens …` as a library call.
///
///     var options = LLMRunWorkflow.Options(model: "tinyllama")
///     options.tokens = [[1, 450, 4996]]
///     options.generate = 8
///     let result = try LLMRunWorkflow.run(options)
public enum LLMRunWorkflow {
  /// Options of ``run(_:)``.
  public struct Options: Sendable {
    /// The model folder (config.json + weights).
    public var model: String
    /// How to read the weights.
    public var read = Checkpoint.ReadOptions()
    /// How config.json is parsed.
    public var parse = LLMConfiguration.ParseOptions()
    /// Equal-length token sequences.
    public var tokens: [[Int32]] = []
    /// Greedy decoding steps after the prompt (0: none).
    public var generate = 0
    /// Write the logits `[B, T, V]` to this `.npy` file.
    public var outputPath: String?
    /// The most likely tokens printed per position.
    public var topTokens = 3

    /// Creates options for a folder.
    public init(model: String) { self.model = model }
  }

  /// What a run produced.
  public struct Result: WorkflowResult {
    /// The configuration as parsed, with sources.
    public var configuration: [String]
    /// The input ids.
    public var tokens: [[Int32]]
    /// The logits `[B, T, V]`.
    public var logits: FloatTensor
    /// Per sequence and position, the most likely next tokens with their probabilities.
    public var top: [[[(token: Int, probability: Double)]]]
    /// Greedy continuations, one per sequence (empty without generation).
    public var generated: [[Int32]]
    /// Seconds to build the model, run the prompt, and generate.
    public var buildSeconds: Double
    /// Seconds of the forward pass over the prompt.
    public var forwardSeconds: Double
    /// Seconds of generation (0 without it).
    public var generateSeconds: Double
    /// The `.npy` written, if any.
    public var written: String?

    /// A run has no checks: it passes once it returns.
    public var passed: Bool { true }

    /// Configuration, a few positions' top tokens per sequence, the continuations and the timing.
    public var lines: [String] {
      var out = configuration.prefix(6).map { "  " + $0 }
      out.insert("model: \(logits.shape.last ?? 0)-token vocabulary; configuration (first lines):", at: 0)
      out.append("engine: \(EngineBuildInfo.features), \(EngineBuildInfo.defaultThreadCount) threads")
      out.append("input: \(tokens.count) × \(tokens.first?.count ?? 0) tokens; logits \(logits.shape)")
      for (b, positions) in top.enumerated().prefix(4) {
        let shown = positions.count > 8 ? Array(positions.suffix(8)) : positions
        let offset = positions.count - shown.count
        if offset > 0 { out.append("  [\(b)] … \(offset) earlier positions") }
        for (i, best) in shown.enumerated() {
          let entries = best.map { "\($0.token) (\(Format.fixed($0.probability * 100, digits: 1))%)" }
          out.append("  [\(b)] pos \(offset + i) token \(tokens[b][offset + i]) → " + entries.joined(separator: ", "))
        }
      }
      for (b, ids) in generated.enumerated() {
        out.append("generated [\(b)]: " + ids.map(String.init).joined(separator: ","))
      }
      var timing =
        "build: \(Format.fixed(buildSeconds * 1e3, digits: 1)) ms; prompt: "
        + "\(Format.fixed(forwardSeconds * 1e3, digits: 1)) ms"
      if !generated.isEmpty, generateSeconds > 0 {
        let n = generated.reduce(0) { $0 + $1.count }
        timing += "; generation: \(Format.fixed(Double(n) / generateSeconds, digits: 1)) tokens/s (KV cache)"
      }
      out.append(timing)
      if let written { out.append("wrote \(written)") }
      return out
    }

    /// The run as data (top tokens and continuations; the logits are in the `.npy`).
    public var json: JSONValue {
      .object(
        JSONObject([
          ("tokens", .array(tokens.map { .array($0.map { .integer(Int($0)) }) })),
          ("logits_shape", .array(logits.shape.map(JSONValue.integer))),
          (
            "top",
            .array(
              top.map { seq in
                .array(seq.map { pos in .array(pos.map { .array([.integer($0.token), .double($0.probability)]) }) })
              })
          ),
          ("generated", .array(generated.map { .array($0.map { .integer(Int($0)) }) })),
          ("build_seconds", .double(buildSeconds)), ("forward_seconds", .double(forwardSeconds)),
          ("generate_seconds", .double(generateSeconds)), ("written", written.map(JSONValue.string) ?? .null),
        ]))
    }
  }

  /// Reads the folder, builds the model, runs the tokens, generates, and writes the logits when asked.
  ///
  /// - Throws: `invalidArgument` (option `tokens`) without tokens or with sequences of different lengths; the
  ///   configuration's and the model's errors, naming the folder's files.
  public static func run(_ options: Options) throws -> Result {
    guard let length = options.tokens.first?.count, length > 0 else {
      throw GraftError(.invalidArgument, "no token ids to run; pass a list such as 1,2,3").resolved(by: "tokens")
    }
    if let ragged = options.tokens.firstIndex(where: { $0.count != length }) {
      throw GraftError(
        .invalidArgument,
        "sequence \(ragged) has \(options.tokens[ragged].count) tokens, sequence 0 has \(length); a batch needs "
          + "equal lengths"
      ).resolved(by: "tokens")
    }
    guard options.generate >= 0 else {
      throw GraftError(.invalidArgument, "cannot generate \(options.generate) tokens").resolved(by: "generate")
    }
    let clock = ContinuousClock()
    let t0 = clock.now
    let (model, configuration) = try LLMModelLoader.load(options.model, read: options.read, parse: options.parse)
    let t1 = clock.now
    // One KV cache for the prompt and the continuation: the prompt is computed once.
    let session = model.makeSession(batch: options.tokens.count, capacity: length + options.generate)
    let out: CausalLM.Output
    do { out = try session.append(options.tokens, allLogits: true) } catch { throw error.resolved(by: "tokens") }
    let t2 = clock.now
    let generated = try model.generate(continuing: session, after: out, steps: options.generate)
    let t3 = clock.now
    if let path = options.outputPath {
      try FloatTensorFile.write(out.logits, to: path, inputs: [options.model])
    }
    return Result(
      configuration: configuration.renderedLines, tokens: options.tokens, logits: out.logits,
      top: topTokens(out.logits, count: options.topTokens), generated: generated,
      buildSeconds: ModelCheck.seconds(t0.duration(to: t1)), forwardSeconds: ModelCheck.seconds(t1.duration(to: t2)),
      generateSeconds: ModelCheck.seconds(t2.duration(to: t3)), written: options.outputPath)
  }

  /// Per sequence and position, the `count` most likely tokens (softmax of the logits).
  static func topTokens(_ logits: FloatTensor, count: Int) -> [[[(token: Int, probability: Double)]]] {
    let v = logits.shape.last ?? 1
    let t = logits.shape.count == 3 ? logits.shape[1] : 1
    let b = logits.values.count / max(1, v * t)
    return (0..<b).map { s in
      (0..<t).map { p in
        let row = logits.values[((s * t + p) * v)..<((s * t + p + 1) * v)]
        let m = Double(row.max() ?? 0)
        let total = row.reduce(0.0) { $0 + Elementary.exp(Double($1) - m) }
        let best = row.indices.sorted { row[$0] != row[$1] ? row[$0] > row[$1] : $0 < $1 }.prefix(max(0, count))
        return best.map { ($0 - row.startIndex, Elementary.exp(Double(row[$0]) - m) / total) }
      }
    }
  }
}

/// Opens a model folder or a GGUF file and builds the engine's model, with errors naming the files.
enum LLMModelLoader {
  static func load(
    _ path: String, read: Checkpoint.ReadOptions, parse: LLMConfiguration.ParseOptions = .init()
  ) throws -> (CausalLM, LLMConfiguration) {
    if !FileSystem.isDirectory(path), LLMModelSource.isModel(path) {
      // GGUF: tensors in Hugging Face names and a configuration rebuilt from the key-values, dequantized lazily.
      let (table, configuration) = try LLMModelSource.open(path)
      do { return (try CausalLM(configuration: configuration, weights: table), configuration) } catch {
        throw error.inFile(path).on(.input)
      }
    }
    let folder = try HuggingFaceFolder.open(path, options: read)
    let configuration = try folder.llmConfiguration(options: parse)
    do { return (try CausalLM(configuration: configuration, weights: folder.table), configuration) } catch {
      throw error.inFile(folder.path).on(.input)
    }
  }
}
