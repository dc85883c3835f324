/// Dense → mixture-of-experts surgery on a timm ViT, as one call: read, transform, verify in the engine, write, and
/// record what was done.
///
///     var options = MoEWorkflow.UpcycleOptions(input: "vit.safetensors", output: "vit-moe.safetensors")
///     options.upcycle.experts = 8
///     let result = try MoEWorkflow.upcycle(options)
///     print(result.lines.joined(separator: "\n"))
///
/// The output is written only when every check passes (``Result/written`` is `nil` otherwise).
public enum MoEWorkflow {
  /// What both workflows share.
  public struct Common: Sendable {
    /// The dense checkpoint.
    public var input: String
    /// Where and how to write the result.
    public var output: WorkflowOutput
    /// How to read the input(s).
    public var read = Checkpoint.ReadOptions()
    /// Also write the manifest (index sets, strategy, seed, statistics, verification) as JSON to this path.
    ///
    /// A `.graft` output records it in its lineage either way.
    public var manifestPath: String?
    /// Whether to run the exactness checks (and refuse to write when one fails).
    public var verify = true
    /// Engine options for the checks (heads, …).
    public var model = VisionTransformer.Options()

    /// Creates options for `input` → `output`.
    public init(input: String, output: String) {
      self.input = input
      self.output = WorkflowOutput(path: output)
    }
  }

  /// Where the activation statistics of importance-based recycling come from.
  public enum StatisticsSource: Sendable, Equatable {
    /// None (data-free strategies).
    case none
    /// Calibration images `[N, C, H, W]` in a file of any format Graft reads (its first 4-D float tensor).
    case calibration(String)
    /// `count` seeded synthetic images.
    case synthetic(Int)
  }

  /// Options of ``upcycle(_:)``.
  public struct UpcycleOptions: Sendable {
    /// Input, output, reading and checking.
    public var common: Common
    /// The construction.
    public var upcycle = MoEUpcycle.Options()
    /// Creates options with the library defaults.
    public init(input: String, output: String) { common = Common(input: input, output: output) }
  }

  /// Options of ``recycle(_:)``.
  public struct RecycleOptions: Sendable {
    /// Input, output, reading and checking.
    public var common: Common
    /// The construction.
    public var recycle = MoERecycle.Options()
    /// A wider dense checkpoint to sample the experts from (teacher-width mode).
    public var teacher: String?
    /// Where statistics come from; `.none` with a strategy that needs them uses 8 synthetic images.
    public var statistics = StatisticsSource.none
    /// Also gather the h×h co-activation counts (implied by the co-activation strategy with statistics).
    public var coactivation = false
    /// Creates options with the library defaults.
    public init(input: String, output: String) { common = Common(input: input, output: output) }
  }

  /// What a workflow did.
  public struct Result: GatedResult {
    /// What the transformation did, one line each.
    public var summary: [String]
    /// The manifest of the construction.
    public var manifest: MoEManifest
    /// The checks, unless verification was turned off.
    public var checks: CheckReport?
    /// What was written; `nil` when a check failed.
    public var written: WriteSummary?
    /// The manifest file written, if one was asked for.
    public var manifestPath: String?
    /// The output path.
    public var output: String
    /// The number of tensors in the output.
    public var tensorCount: Int
    /// The dense model's configuration as the engine resolved it, when the engine ran.
    public var configuration: ModelConfiguration?

    /// The report for terminals.
    public var lines: [String] {
      var out = (configuration?.lines("dense model: vit") ?? []) + summary + (checks?.lines ?? [])
      if let written {
        out.append(
          "wrote \(tensorCount) tensors, \(Format.bytes(written.bytesWritten)) to \(output)"
            + (manifestPath.map { "; manifest \($0)" } ?? ""))
      } else {
        out.append("not written: the MoE checks failed")
      }
      return out
    }

    /// The manifest with the verification, as written to the manifest file.
    public var json: JSONValue {
      var o = manifest.json.objectValue ?? JSONObject()
      o["configuration"] = configuration?.json ?? .null
      o["verification"] = checks?.json ?? .null
      return .object(o)
    }
  }

  /// Sparse upcycling (E copies + router) or exact partitioning of the dense MLPs.
  public static func upcycle(_ options: UpcycleOptions) throws -> Result {
    let dense = try Checkpoint.read(path: options.common.input, options: options.common.read)
    var common = options.common
    var configuration: ModelConfiguration?
    if common.verify {
      (configuration, common.model) = try ModelConfiguration.resolve(
        dense, checkpoint: common.input, options: common.model)
    }
    let (moe, manifest) = try WorkflowFiles.naming(dense) { try MoEUpcycle.upcycle(dense, options: options.upcycle) }
    let o = options.upcycle
    let summary = [
      "upcycled \(manifest.layers.count) blocks: \(o.method.rawValue), \(o.experts) experts, top-\(o.topK) "
        + "\(o.gate.rawValue), router \(o.router), layout \(o.layout.rawValue)"
    ]
    return try finish(
      dense: dense, moe: moe, manifest: manifest, teacher: nil, summary: summary, common: common,
      configuration: configuration, inputs: [common.input])
  }

  /// MoE-Jetpack checkpoint recycling: experts from hidden-unit subsets of the dense MLPs.
  public static func recycle(_ options: RecycleOptions) throws -> Result {
    var common = options.common
    let dense = try Checkpoint.read(path: common.input, options: common.read)
    let teacher = try options.teacher.map { try Checkpoint.read(path: $0, options: common.read) }
    var o = options.recycle
    var summary: [String] = []
    let strategyNeeds = o.strategy.needsStatistics || (o.strategy == .coactivation && options.coactivation)
    let statistics = options.statistics != .none || strategyNeeds
    var configuration: ModelConfiguration?
    let given = common.model
    if common.verify || statistics {
      (configuration, common.model) = try ModelConfiguration.resolve(dense, checkpoint: common.input, options: given)
    }
    if statistics {
      let source = teacher ?? dense
      // A teacher is its own architecture, described beside its own file.
      var sourceModel = common.model
      if let teacher, let path = options.teacher {
        sourceModel = try ModelConfiguration.resolve(teacher, checkpoint: path, options: given).options
      }
      let blocks = try o.layers.resolve(depth: try MoEDenseModel(source).depth)
      let images: FloatTensor
      switch options.statistics {
      case .calibration(let path):
        images = try MoECalibration.read(path)
        o.statisticsSource = "calibration \(path) \(images.shape)"
      case .synthetic(let n):
        images = try MoEStatisticsCollection.syntheticImages(dense: source, count: n, seed: o.seed, model: sourceModel)
        o.statisticsSource = "synthetic \(n) images, seed \(o.seed)"
      case .none:
        images = try MoEStatisticsCollection.syntheticImages(dense: source, count: 8, seed: o.seed, model: sourceModel)
        o.statisticsSource = "synthetic 8 images, seed \(o.seed)"
      }
      let clock = ContinuousClock()
      let start = clock.now
      o.statistics = try MoEStatisticsCollection.collect(
        dense: source, images: images, blocks: blocks,
        coactivation: options.coactivation || o.strategy == .coactivation, model: sourceModel)
      let elapsed = start.duration(to: clock.now)
      summary.append(
        "statistics: \(o.statisticsSource), \(elapsed) (\(elapsed / max(images.shape.first ?? 1, 1)) per image)")
    }
    let (moe, manifest) = try WorkflowFiles.naming(dense) {
      try MoERecycle.recycle(dense, teacher: teacher, options: o)
    }
    summary.append(
      "recycled \(manifest.layers.count) blocks (\(manifest.parameters["mode"]?.stringValue ?? "")), "
        + "strategy \(o.strategy.rawValue), layout \(o.layout.rawValue), seed \(o.seed)")
    return try finish(
      dense: dense, moe: moe, manifest: manifest, teacher: teacher, summary: summary, common: common,
      configuration: configuration, inputs: [common.input] + (options.teacher.map { [$0] } ?? []))
  }

  /// Verifies, then writes the output and the manifest; nothing is written when a check fails.
  static func finish(
    dense: TensorTable, moe: TensorTable, manifest: MoEManifest, teacher: TensorTable?, summary: [String],
    common: Common, configuration: ModelConfiguration?, inputs: [String]
  ) throws -> Result {
    var result = Result(
      summary: summary, manifest: manifest, checks: nil, written: nil, manifestPath: nil, output: common.output.path,
      tensorCount: moe.count, configuration: configuration)
    if common.verify {
      var check = MoECheck.Options()
      check.model = common.model
      result.checks = try WorkflowFiles.naming(dense) {
        try MoECheck.verify(dense: dense, moe: moe, manifest: manifest, teacher: teacher, options: check)
      }
    }
    guard result.passed else { return result }
    let lineage = LineageRecord(
      operation: manifest.operation, tool: Checkpoint.toolName, parameters: result.json)
    result.written = try common.output.write(moe, inputs: inputs, lineage: lineage)
    if let path = common.manifestPath {
      try WorkflowFiles.writeJSON(result.json, to: path, inputs: inputs)
      result.manifestPath = path
    }
    return result
  }
}

/// Reads calibration images for the statistics, whatever format holds them (detected from content).
enum MoECalibration {
  static func read(_ path: String) throws -> FloatTensor {
    let table = try Checkpoint.read(path: path)
    let candidates = table.storedEntries.filter {
      ($0.tensor.shape.count == 4 || $0.tensor.shape.count == 3) && $0.tensor.dtype.isFloatingPoint
    }
    guard let entry = candidates.first(where: { $0.tensor.shape.count == 4 }) ?? candidates.first else {
      throw GraftError(
        .invalidArgument, "no float tensor of images [N, C, H, W] among its \(table.count) tensors", file: path)
    }
    let tensor = entry.tensor
    let values: [Float]
    do { values = try tensor.floatValues(name: entry.name) } catch { throw error.inFile(path) }
    return try FloatTensor(shape: tensor.shape.count == 3 ? [1] + tensor.shape : tensor.shape, values: values)
  }
}
