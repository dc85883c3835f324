public import ArgumentParser
public import Graft

/// Options shared by every command that reads a checkpoint.
struct ReadingOptions: ParsableArguments {
  @Option(help: "For nested PyTorch checkpoints: the state dict to read (model, ema_state, state_dict, …).")
  var select: String?

  @Option(
    name: .customLong("strip-prefix"), help: "Remove this prefix from every tensor name (repeatable), e.g. module.")
  var stripPrefix: [String] = []

  @Flag(help: "Accept duplicate keys in JSON headers (the last one wins) instead of refusing the file.")
  var lenient = false

  var readOptions: Checkpoint.ReadOptions {
    var o = Checkpoint.ReadOptions()
    o.select = select
    o.stripPrefixes = stripPrefix
    o.lenientDuplicates = lenient
    return o
  }
}

/// Options shared by every command that writes a checkpoint and prints a report.
struct OutputOptions: ParsableArguments {
  @Option(help: "Output format: safetensors, sharded, graft, pth, npy, npz, h5 (default: from the extension).")
  var to: OutputTarget?

  @Option(help: "Also write the report as JSON to this path.") var report: String?
  @Flag(help: "Print the report as JSON instead of text.") var json = false
  @Flag(name: .shortAndLong, help: "Print only warnings and errors.") var quiet = false

  /// The library's description of the output at `path`.
  func output(_ path: String) -> WorkflowOutput {
    var o = WorkflowOutput(path: path, format: to?.format)
    o.reportPath = report
    return o
  }

  /// Prints a workflow's report (text or JSON) and turns a failed check into exit status 1.
  func finish(_ result: some WorkflowResult) throws {
    if json || !quiet || !result.passed {
      Failure.print(json: json, result.json, text: result.lines.joined(separator: "\n"))
    }
    if !result.passed { throw Failure.mismatch }
  }
}

/// The ViT architecture flags of every command that builds an engine model; each overrides the checkpoint's metadata.
struct ModelOptions: ParsableArguments {
  @Option(help: "Attention heads.") var heads: Int?
  @Option(help: "Pooling: token, avg, max, avgmax, map, none.") var globalPool: VisionTransformer.GlobalPool?
  @Option(help: "Whether pooling reads the prefix tokens (true/false).") var poolIncludePrefix: Bool?
  @Option(help: "Whether the checkpoint has fc_norm (true/false; checked).") var fcNorm: Bool?
  @Option(help: "MLP activation: gelu, gelu_tanh, quick_gelu, relu, silu.") var act: Activation?
  @Option(help: "Norm layers: layernorm or rmsnorm.") var norm: NormKind?
  @Option(help: "Norm epsilon.") var normEps: Float?
  @Option(help: "Packed gated MLP: swiglu_packed (gate first) or glu.") var mlp: MLPKind?
  @Option(help: "Prefix tokens (class, distillation, registers; checked).") var numPrefixTokens: Int?
  @Option(parsing: .upToNextOption, help: "The checkpoint's image size: H [W].") var imgSize: [Int] = []
  @Option(parsing: .upToNextOption, help: "Run at H [W], resampling pos_embed.") var resamplePosEmbed: [Int] = []
  @Flag(help: "Take timm's defaults for undetermined values (reported as ASSUMED).") var assumeDefaults = false
  @Flag(help: "Run even when tensors are left unused (they are listed).") var ignoreUnused = false

  var model: VisionTransformer.Options {
    var o = VisionTransformer.Options(heads: heads, globalPool: globalPool, normEps: normEps, activation: act)
    (o.poolIncludePrefix, o.fcNorm, o.normKind, o.mlpKind) = (poolIncludePrefix, fcNorm, norm, mlp)
    (o.imageSize, o.resamplePositionEmbedding) = (
      imgSize.isEmpty ? nil : imgSize, resamplePosEmbed.isEmpty ? nil : resamplePosEmbed
    )
    (o.numPrefixTokens, o.assumeDefaults, o.ignoreUnused) = (numPrefixTokens, assumeDefaults, ignoreUnused)
    return o
  }
}

// MARK: - Library values as arguments

extension CheckpointFormat: ExpressibleByArgument {
  /// The names `--to` accepts.
  public static var allValueStrings: [String] { ["safetensors", "sharded", "graft", "pth", "npy", "npz", "h5"] }
}

extension DType: ExpressibleByArgument {
  /// Parses `F32`, `bf16`, `float16`, ….
  public init?(argument: String) { self.init(parsing: argument) }
}

extension HDF5Checkpoint.Layout: ExpressibleByArgument {}
extension KerasLayout.Convention: ExpressibleByArgument {}
extension ModelArchitecture: ExpressibleByArgument {}
extension MoERecycleStrategy: ExpressibleByArgument {}
extension MoEPartitionStrategy: ExpressibleByArgument {}
extension MoEGateConvention: ExpressibleByArgument {}
extension MoELayout: ExpressibleByArgument {}
extension MoEUpcycle.Method: ExpressibleByArgument {}
extension DenoiseRep.Mode: ExpressibleByArgument {}
extension DenoiseRepWorkflow.Precision: ExpressibleByArgument {}
extension MrDETRVariant: ExpressibleByArgument {}
extension MrDETRLayout: ExpressibleByArgument {}
extension VisionTransformer.GlobalPool: ExpressibleByArgument {}
extension Activation: ExpressibleByArgument {}
extension NormKind: ExpressibleByArgument {}
extension MLPKind: ExpressibleByArgument {}

extension MoERouterInit: ExpressibleByArgument {
  /// Parses `zero`, `normal`, `normal:0.02`, `orthogonal`, `centroid`.
  public init?(argument: String) { self.init(parsing: argument) }
  /// The forms `--router` accepts.
  public static var allValueStrings: [String] { ["zero", "normal[:σ]", "orthogonal", "centroid"] }
}
