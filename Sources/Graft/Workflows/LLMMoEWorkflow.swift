/// Dense LLM folder → Mixtral / Qwen2-MoE / Qwen3-MoE folder, as one call: read, (calibrate the router), upcycle,
/// verify, write — only when every check passes.
///
///     var options = LLMMoEWorkflow.Options(input: "llama-1b", output: "llama-1b-8x")
///     options.upcycle.target = .mixtral
///     options.upcycle.experts = 8
///     let result = try LLMMoEWorkflow.upcycle(options)
public enum LLMMoEWorkflow {
  /// Options of ``upcycle(_:)``.
  public struct Options: Sendable {
    /// The dense model folder.
    public var input: String
    /// The output folder (new or empty).
    public var output: String
    /// How to read the weights.
    public var read = Checkpoint.ReadOptions()
    /// The construction.
    public var upcycle = LLMUpcycle.Options()
    /// Token ids (`[B, T]` integer array file) whose layer-input hidden states initialise the router: sequence n
    /// calibrates expert n mod E (mergekit's `hidden` mode, with sequence means).
    public var calibration: String?
    /// Whether to run the checks (and refuse to write when one fails).
    public var verify = true
    /// The checks' settings.
    public var check = LLMMoECheck.Options()
    /// The largest weight shard in bytes.
    public var shardSize = 5_000_000_000
    /// Also write the manifest (construction, notes, checks) as JSON here.
    public var manifestPath: String?
    /// Receives bytes written.
    public var progress: ProgressCounter?

    /// Creates options for `input` → `output`.
    public init(input: String, output: String) {
      self.input = input
      self.output = output
    }
  }

  /// What the workflow did.
  public struct Result: WorkflowResult {
    /// What was built, one line each.
    public var summary: [String]
    /// The construction.
    public var plan: LLMUpcycle.Plan
    /// Structure, bytes and exactness (nil when verification was turned off).
    public var checks: CheckReport?
    /// The whole-model engine comparison, when it ran.
    public var engine: CheckReport?
    /// What was written; nil when a check failed.
    public var written: WriteSummary?
    /// The output folder.
    public var output: String
    /// Tensors in the output.
    public var tensorCount: Int
    /// The manifest written, if asked for.
    public var manifestPath: String?

    /// Whether every check passed.
    public var passed: Bool { (checks?.passed ?? true) && (engine?.passed ?? true) }

    /// Summary, notes, the checks, the engine comparison, and what was written.
    public var lines: [String] {
      var out = summary + plan.notes.map { "note: " + $0 }
      out += checks?.lines ?? ["checks: not run (verification turned off)"]
      if let engine { out += ["whole model, dense vs MoE:"] + engine.lines }
      if let written {
        out.append(
          "wrote \(tensorCount) tensors, \(Format.bytes(written.bytesWritten)) in \(written.files.count) files to "
            + output + (manifestPath.map { "; manifest \($0)" } ?? ""))
      } else {
        out.append("not written: the MoE checks failed")
      }
      return out
    }

    /// The manifest: the construction, the notes and both reports.
    public var json: JSONValue {
      var o = plan.parameters
      o["operation"] = "llm.moe.upcycle"
      o["notes"] = .array(plan.notes.map(JSONValue.string))
      o["layers"] = .array(plan.layers.map { .integer($0.layer) })
      o["verification"] = checks?.json ?? .null
      o["engine"] = engine?.json ?? .null
      o["written"] = written.map { .array($0.files.map(JSONValue.string)) } ?? .null
      return .object(o)
    }
  }

  /// Reads the dense folder, upcycles, verifies, and writes the MoE folder when every check passes.
  ///
  /// - Throws: errors naming the file and key for an unknown or already-MoE model, a missing shard or tensor;
  ///   errors naming the option for bad settings. Nothing is written when it throws or a check fails.
  public static func upcycle(_ options: Options) throws -> Result {
    let folder = try HuggingFaceFolder.open(options.input, options: options.read)
    let configPath = folder.path + "/config.json"
    let dense = try folder.llmConfiguration()
    if dense.family.isMixtureOfExperts {
      throw GraftError(
        .invalidModel,
        "model_type is '\(dense.family.rawValue)': the model is already a mixture of experts; upcycling needs a "
          + "dense model", file: configPath
      ).on(.input)
    }
    var o = options.upcycle
    var summary: [String] = []
    if let calibration = options.calibration {
      let clock = ContinuousClock()
      let start = clock.now
      let tokens = try LLMTokens.read(calibration)
      o.routerRows = try LLMRouterCalibration.rows(
        folder: folder, configuration: dense, tokens: tokens, experts: o.experts, file: calibration)
      o.routerRowsSource = "calibration \(calibration) [\(tokens.count), \(tokens.first?.count ?? 0)]"
      summary.append(
        "router: layer-input hidden-state means of \(calibration), sequence n → expert n mod \(o.experts) "
          + "(\(start.duration(to: clock.now)))")
    }
    let upcycled: (table: TensorTable, config: JSONObject, plan: LLMUpcycle.Plan)
    do { upcycled = try LLMUpcycle.upcycle(folder.table, config: folder.config, options: o) } catch {
      let fromModel = error.code == .invalidModel || error.code == .unsupportedDType
      throw fromModel ? error.inFile(error.tensor == nil ? configPath : folder.path).on(.input) : error
    }
    let plan = upcycled.plan
    summary.insert(description(plan, dense: dense), at: 0)
    var result = Result(
      summary: summary, plan: plan, checks: nil, engine: nil, written: nil, output: options.output,
      tensorCount: upcycled.table.count, manifestPath: nil)
    if options.verify {
      let verified = try LLMMoECheck.verify(
        dense: (folder.table, folder.config), moe: (upcycled.table, upcycled.config), plan: plan,
        options: options.check)
      result.checks = verified.checks
      result.engine = verified.engine
    }
    let inputs = [folder.path] + folder.weightFiles.map { folder.path + "/" + $0 }
    if result.passed {
      var w = HuggingFaceFolder.WriteOptions()
      w.shardSize = options.shardSize
      w.copyingFilesFrom = folder.path
      w.inputs = inputs
      w.progress = options.progress
      result.written = try HuggingFaceFolder.write(
        upcycled.table, config: upcycled.config, to: options.output, options: w)
    }
    if let path = options.manifestPath {
      try WorkflowFiles.writeJSON(result.json, to: path, inputs: inputs)
      result.manifestPath = path
    }
    return result
  }

  static func description(_ p: LLMUpcycle.Plan, dense: LLMConfiguration) -> String {
    let construction: String
    switch p.construction {
    case .copies: construction = "copies"
    case .partition(let s):
      construction = "partition (\(s.rawValue)) into experts of \(p.expertWidth), down × \(p.experts)"
    }
    var extras: [String] = []
    if p.dropRatio > 0 { extras.append("Drop-Upcycling r = \(p.dropRatio)") }
    if p.noise > 0 { extras.append("noise σ = \(p.noise)") }
    if let s = p.sharedExpert { extras.append("shared expert \(s.rawValue)") }
    return "upcycled \(dense.family.rawValue) → \(p.target.architecture) (\(p.layout.rawValue) keys): "
      + "\(p.layers.count) of \(p.layerCount) layers sparse, \(p.experts) experts, top-\(p.topK)"
      + (p.normalizeTopK ? " renormalised" : " not renormalised") + ", \(construction), router "
      + (p.parameters["router"]?.stringValue ?? "") + (extras.isEmpty ? "" : ", " + extras.joined(separator: ", "))
  }
}
