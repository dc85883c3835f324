import ArgumentParser
import Graft

/// `graft moe`: dense → mixture-of-experts conversions, each verified by the engine.
struct MoECommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "moe",
    abstract: "Turn a dense timm ViT into a mixture of experts: Jetpack recycling or sparse upcycling, verified.",
    discussion: """
      Every conversion is followed by the exactness checks of Formats/moe-layouts.md: strict key set, byte-identical \
      non-expert tensors, bitwise expert slicing, and engine runs that must reproduce the dense model where the \
      construction is exact (copies + renormalised top-k, partition + all experts on) or report how far it is.
      """,
    subcommands: [Recycle.self, Upcycle.self])
}

/// Options shared by both subcommands.
struct MoECommonOptions: ParsableArguments {
  @Option(help: "MoE blocks: all, last-half, every-N[+OFFSET], or a list/ranges such as 6-11 or 0,2,4.")
  var layers: String?

  @Option(help: "The seed of every random choice.")
  var seed: UInt64?

  @Option(help: "Output format: safetensors, graft, pth, npz, h5.")
  var to: String?

  @Option(help: "Write the manifest (index sets, strategy, seed, statistics) to this JSON file.")
  var manifest: String?

  @Option(help: "The number of attention heads for the engine checks (default: metadata num_heads, or width/64).")
  var heads: Int?

  @Flag(name: .customLong("no-verify"), help: "Skip the engine checks.")
  var noVerify = false

  @Flag(name: .shortAndLong, help: "Print only warnings and errors.")
  var quiet = false

  @OptionGroup var reading: ReadingOptions

  func validateCommon() throws {
    if let to, CheckpointFormat(argument: to) == nil { throw ValidationError("unknown format '\(to)' for --to") }
    if let heads, heads < 1 { throw ValidationError("--heads must be positive") }
  }

  /// Verifies, writes the output and the manifest (lineage for `.graft`, a JSON file beside it otherwise).
  func finish(
    dense: TensorTable, moe: TensorTable, manifest m: MoEManifest, teacher: TensorTable?, output: String,
    inputs: [String]
  ) throws {
    var passed = true
    var verification: JSONValue = .null
    if !noVerify {
      var options = MoECheck.Options()
      options.model.heads = heads
      let report = try MoECheck.verify(dense: dense, moe: moe, manifest: m, teacher: teacher, options: options)
      verification = report.json
      passed = report.passed
      if !quiet || !passed { print(report.lines.joined(separator: "\n")) }
    }
    guard passed else {
      FileSystem.writeToStandardError("graft: error: the MoE checks failed; not written\n")
      throw Failure.mismatch
    }
    var json = m.json.objectValue ?? JSONObject()
    json["verification"] = verification
    let format = to.flatMap(CheckpointFormat.init(argument:)) ?? CheckpointFormat.forOutputPath(output)
    var write = Checkpoint.WriteOptions()
    write.lineage = LineageRecord(operation: m.operation, tool: Checkpoint.toolName, parameters: .object(json))
    write.inputs = inputs
    let summary = try Checkpoint.write(moe, to: output, format: format, options: write)
    let manifestPath = manifest ?? (format == .graft ? nil : output + ".moe.json")
    if let manifestPath {
      try FileSystem.writeAll(JSONValue.object(json).serializedBytes(.pythonIndent2), to: manifestPath)
    }
    if !quiet {
      print(
        "wrote \(moe.count) tensors, \(summary.bytesWritten) bytes to \(output)"
          + (manifestPath.map { "; manifest \($0)" } ?? "; manifest in the lineage"))
    }
  }
}

extension MoECommand {
  /// `graft moe recycle`.
  struct Recycle: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "MoE-Jetpack checkpoint recycling: experts from hidden-unit subsets of the dense MLPs.",
      discussion: """
        Same width by default (experts are subsets of the same MLP, simplified Jetpack layout \
        blocks.N.mlp.experts.0p25.fc1.weight [E, r·h, d]). --teacher samples experts (hidden units and residual \
        channels) out of a wider checkpoint while every other tensor comes from the input: the released Jetpack \
        pipeline (ViT-S → ViT-T). --layout dual-path writes the SpheroMoE keys (phi, core_experts, univ_experts).

        Strategies: random, uniform, importance-l1, importance-l2, importance-freq (statistics from --calib images \
        or --synthetic N seeded images), importance-weight and importance-expected (data-free), coactivation \
        (balanced partition of the co-activation graph; data-free proxy without statistics).

        Examples:
          graft moe recycle dense.safetensors out.graft --experts 8 --ratio 0.25 --strategy importance-l2 \\
            --layers last-half --calib images.npz
          graft moe recycle vit_t.safetensors out.pth --teacher vit_s.safetensors --layout dual-path \\
            --core-experts 98 --univ-experts 196
        """)

    @Argument(help: "The dense ViT (the student in teacher-width mode).")
    var input: String
    @Argument(help: "The output path; its extension picks the format unless --to is given.")
    var output: String
    @Option(help: "Experts per MoE layer (simplified and generic layouts).")
    var experts: Int = 8
    @Option(help: "Expert hidden size as a fraction of the dense hidden size (teacher width: d_student/d_teacher).")
    var ratio: Double?
    @Option(
      help:
        "random, uniform, importance-l1, importance-l2, importance-freq, importance-weight, importance-expected, coactivation."
    )
    var strategy: String = "random"
    @Flag(name: .customLong("global-top-k"), help: "Importance: take the global top-k instead of sampling.")
    var globalTopK = false
    @Option(help: "Co-activation: the number of graph communities.")
    var communities: Int = 32
    @Option(help: "jetpack (simplified), dual-path, or generic.")
    var layout: String = "jetpack"
    @Option(name: .customLong("core-experts"), help: "Dual path: core experts.")
    var coreExperts: Int = 4
    @Option(name: .customLong("univ-experts"), help: "Dual path: universal experts.")
    var univExperts: Int = 8
    @Option(name: .customLong("univ-factor"), help: "Dual path: universal expert size relative to a core expert.")
    var univFactor: Double = 0.25
    @Option(help: "Generic layout: experts per token.")
    var topK: Int = 2
    @Option(help: "Generic layout: router init (zero, normal[:σ], orthogonal, centroid).")
    var router: String = "normal:0.02"
    @Option(help: "A wider dense checkpoint to sample the experts from (teacher-width mode).")
    var teacher: String?
    @Option(help: "Calibration images [N, C, H, W] (.npy, .npz or .safetensors; the first 4-D float tensor).")
    var calib: String?
    @Option(help: "Gather statistics on N seeded synthetic images instead of --calib.")
    var synthetic: Int?
    @Flag(help: "Gather the h×h co-activation counts too (coactivation strategy).")
    var coactivation = false
    @OptionGroup var common: MoECommonOptions

    func validate() throws {
      try common.validateCommon()
      if MoERecycleStrategy(rawValue: strategy) == nil { throw ValidationError("unknown --strategy '\(strategy)'") }
      if MoELayout(rawValue: layout) == nil { throw ValidationError("unknown --layout '\(layout)'") }
      if MoERouterInit(parsing: router) == nil { throw ValidationError("unknown --router '\(router)'") }
      if calib != nil && synthetic != nil { throw ValidationError("pass either --calib or --synthetic, not both") }
      if let synthetic, synthetic < 1 { throw ValidationError("--synthetic needs a positive count") }
    }

    func run() throws {
      try Failure.reporting {
        let dense = try Checkpoint.read(path: input, options: common.reading.readOptions)
        let teacherTable = try teacher.map { try Checkpoint.read(path: $0, options: common.reading.readOptions) }
        var o = MoERecycle.Options()
        o.experts = experts
        o.ratio = ratio
        o.strategy = MoERecycleStrategy(rawValue: strategy) ?? .random
        o.globalTopK = globalTopK
        o.communities = communities
        o.layout = MoELayout(rawValue: layout) ?? .jetpack
        o.coreExperts = coreExperts
        o.universalExperts = univExperts
        o.universalFactor = univFactor
        o.topK = topK
        o.router = MoERouterInit(parsing: router) ?? .zero
        if let layers = common.layers { o.layers = try MoELayerSelection(parsing: layers) }
        if let seed = common.seed { o.seed = seed }
        let source = teacherTable ?? dense
        let wantStats =
          calib != nil || synthetic != nil || o.strategy.needsStatistics
          || (o.strategy == .coactivation && coactivation)
        if wantStats {
          let depth = try MoEDenseModel(source).depth
          let blocks = try o.layers.resolve(depth: depth)
          var model = VisionTransformer.Options()
          model.heads = common.heads
          let images: FloatTensor
          if let calib {
            images = try MoECalibration.read(calib)
            o.statisticsSource = "calibration \(calib) \(images.shape)"
          } else {
            let n = synthetic ?? 8
            images = try MoEStatisticsCollection.syntheticImages(dense: source, count: n, seed: o.seed, model: model)
            o.statisticsSource = "synthetic \(n) images, seed \(o.seed)"
          }
          let clock = ContinuousClock()
          let start = clock.now
          o.statistics = try MoEStatisticsCollection.collect(
            dense: source, images: images, blocks: blocks, coactivation: coactivation || o.strategy == .coactivation,
            model: model)
          let elapsed = start.duration(to: clock.now)
          if !common.quiet {
            print(
              "statistics: \(o.statisticsSource), \(elapsed) (\(elapsed / max(images.shape.first ?? 1, 1)) per image)")
          }
        }
        let (moe, manifest) = try MoERecycle.recycle(dense, teacher: teacherTable, options: o)
        if !common.quiet {
          print(
            "recycled \(manifest.layers.count) blocks (\(manifest.parameters["mode"]?.stringValue ?? "")), "
              + "strategy \(o.strategy.rawValue), layout \(o.layout.rawValue), seed \(o.seed)")
        }
        try common.finish(
          dense: dense, moe: moe, manifest: manifest, teacher: teacherTable, output: output,
          inputs: [input] + (teacher.map { [$0] } ?? []))
      }
    }
  }

  /// `graft moe upcycle`.
  struct Upcycle: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Sparse upcycling (E identical copies + router) or exact partitioning of the dense MLPs.",
      discussion: """
        The generic layout (blocks.N.mlp.router.weight [E, d], blocks.N.mlp.experts.{e}.fc1.weight) runs in the \
        engine with no flags: experts, top-k, gate and layers are written into the metadata (graft.moe).

        Exact constructions: copies with --gate softmax-topk-renorm (any k, any router); partition with all experts \
        on (checked whatever --gate says). --gate softmax-topk (V-MoE) gives y = (Σg)·f, which is checked as such.

        Examples:
          graft moe upcycle vit.safetensors moe.safetensors --experts 8 --top-k 2 --method copies
          graft moe upcycle vit.safetensors moe.graft --experts 8 --method partition --partition clustering \\
            --shared-hidden 384 --router centroid --layers every-2+1
        """)

    @Argument(help: "The dense ViT.")
    var input: String
    @Argument(help: "The output path; its extension picks the format unless --to is given.")
    var output: String
    @Option(help: "Routed experts per MoE layer.")
    var experts: Int = 8
    @Option(help: "Experts per token.")
    var topK: Int = 2
    @Option(help: "copies or partition.")
    var method: String = "copies"
    @Option(help: "Partition strategy: random, clustering, importance, coactivation.")
    var partition: String = "random"
    @Option(name: .customLong("shared-hidden"), help: "Partition: hidden units of an always-on shared expert.")
    var sharedHidden: Int = 0
    @Option(help: "Router init: zero, normal[:σ], orthogonal, centroid.")
    var router: String = "normal:0.02"
    @Option(help: "Gate: softmax-topk-renorm, softmax-topk (V-MoE), all-on.")
    var gate: String = "softmax-topk-renorm"
    @Option(help: "generic or jetpack.")
    var layout: String = "generic"
    @OptionGroup var common: MoECommonOptions

    func validate() throws {
      try common.validateCommon()
      if MoEUpcycle.Method(rawValue: method) == nil { throw ValidationError("unknown --method '\(method)'") }
      if MoEPartitionStrategy(rawValue: partition) == nil {
        throw ValidationError("unknown --partition '\(partition)'")
      }
      if MoERouterInit(parsing: router) == nil { throw ValidationError("unknown --router '\(router)'") }
      if MoEGateConvention(rawValue: gate) == nil { throw ValidationError("unknown --gate '\(gate)'") }
      if MoELayout(rawValue: layout) == nil { throw ValidationError("unknown --layout '\(layout)'") }
    }

    func run() throws {
      try Failure.reporting {
        let dense = try Checkpoint.read(path: input, options: common.reading.readOptions)
        var o = MoEUpcycle.Options()
        o.experts = experts
        o.topK = topK
        o.method = MoEUpcycle.Method(rawValue: method) ?? .copies
        o.partition = MoEPartitionStrategy(rawValue: partition) ?? .random
        o.sharedHidden = sharedHidden
        o.router = MoERouterInit(parsing: router) ?? .zero
        o.gate = MoEGateConvention(rawValue: gate) ?? .softmaxTopKRenormalized
        o.layout = MoELayout(rawValue: layout) ?? .generic
        o.layers = try MoELayerSelection(parsing: common.layers ?? "all")
        if let seed = common.seed { o.seed = seed }
        let (moe, manifest) = try MoEUpcycle.upcycle(dense, options: o)
        if !common.quiet {
          print(
            "upcycled \(manifest.layers.count) blocks: \(o.method.rawValue), \(experts) experts, top-\(topK) "
              + "\(o.gate.rawValue), router \(o.router), layout \(o.layout.rawValue)")
        }
        try common.finish(dense: dense, moe: moe, manifest: manifest, teacher: nil, output: output, inputs: [input])
      }
    }
  }
}

/// Reads calibration images for the statistics.
enum MoECalibration {
  static func read(_ path: String) throws -> FloatTensor {
    let tensor: Tensor
    let name: String
    if path.hasSuffix(".npy") {
      tensor = try NumPyFormat.readNPY(path: path)
      name = path
    } else {
      let table = try Checkpoint.read(path: path)
      guard
        let entry = table.storedEntries.first(where: { $0.tensor.shape.count == 4 && $0.tensor.dtype.isFloatingPoint })
      else {
        throw GraftError(.invalidArgument, "no 4-D float tensor [N, C, H, W] among \(table.count) tensors", file: path)
      }
      tensor = entry.tensor
      name = entry.name
    }
    guard tensor.shape.count == 4 || tensor.shape.count == 3 else {
      throw GraftError(
        .invalidArgument, "has shape \(tensor.shape); expected images [N, C, H, W]", file: path, tensor: name)
    }
    var values = [Float](repeating: 0, count: tensor.elementCount)
    try tensor.withUnsafeBytes { raw in
      try values.withUnsafeMutableBufferPointer { dst in
        try ElementDecoding.decodeToFloat(raw, dtype: tensor.dtype, into: dst)
      }
    }
    return try FloatTensor(shape: tensor.shape.count == 3 ? [1] + tensor.shape : tensor.shape, values: values)
  }
}
