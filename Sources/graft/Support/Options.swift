public import ArgumentParser
public import Graft

/// How every command prints: text or `--json`, and `--quiet`.
struct PrintOptions: ParsableArguments {
  @Flag(help: "Print the report as JSON instead of text.") var json = false
  @Flag(name: .shortAndLong, help: "Print only warnings and errors (and a failed check's report).") var quiet = false

  /// Prints a workflow's report and turns a failed check into exit status 1.
  func finish(_ result: some WorkflowResult) throws {
    if json || !quiet || !result.passed {
      Failure.print(json: json, result.json, text: result.lines.joined(separator: "\n"))
    }
    if !result.passed { throw Failure.mismatch }
  }
}

/// The flags of every command that reads a checkpoint.
struct ReadingOptions: ParsableArguments {
  @Option(help: "For nested PyTorch checkpoints: the state dict to read (model, ema_state, state_dict, …).")
  var select: String?
  @Option(help: "Remove this prefix from every tensor name (repeatable), e.g. module.") var stripPrefix: [String] = []
  @Flag(help: "Accept duplicate keys in JSON headers (the last one wins) instead of refusing the file.")
  var lenient = false

  var readOptions: Checkpoint.ReadOptions {
    var o = Checkpoint.ReadOptions()
    (o.select, o.stripPrefixes, o.lenientDuplicates) = (select, stripPrefix, lenient)
    return o
  }
}

/// The flags of every command that writes a checkpoint.
struct OutputOptions: ParsableArguments {
  @Option(help: "Output format: safetensors, sharded, graft, pth, npy, npz, h5 (default: from the extension).")
  var to: OutputTarget?
  @Option(help: "Also write the report as JSON to this path.") var report: String?

  /// The library's description of the output at `path`; an LLM MoE target is refused, since only
  /// `graft moe upcycle` of a model folder takes one and anything else would fall back to the extension silently.
  func output(_ path: String, allowingLLMTarget: Bool = false) throws -> WorkflowOutput {
    if let t = to?.llm, !allowingLLMTarget {
      throw ValidationError(
        "--to \(t.rawValue) names an LLM MoE target; only graft moe upcycle of a model folder takes it")
    }
    var o = WorkflowOutput(path: path, format: to?.format)
    o.reportPath = report
    return o
  }
}

/// `--no-verify` of every command that proves its output.
struct VerifyOption: ParsableArguments {
  @Flag(help: "Skip the checks that prove the output (read back, engine, samples).") var noVerify = false
}

/// The flags of a surgery that reads checkpoints, writes one and proves it.
struct SurgeryOptions: ParsableArguments {
  @OptionGroup var verification: VerifyOption
  @OptionGroup var output: OutputOptions
  @OptionGroup var reading: ReadingOptions

  /// `options` with its output, reading and verification set from these flags.
  func apply<Options: SurgeryWorkflowOptions>(to options: Options, allowingLLMTarget: Bool = false) throws -> Options {
    var o = options
    o.output = try output.output(o.output.path, allowingLLMTarget: allowingLLMTarget)
    (o.read, o.verify) = (reading.readOptions, !verification.noVerify)
    return o
  }
}

/// Workflow options that every surgery command fills the same way (see ``SurgeryOptions``).
protocol SurgeryWorkflowOptions {
  var output: WorkflowOutput { get set }
  var read: Checkpoint.ReadOptions { get set }
  var verify: Bool { get set }
}

extension ReparamWorkflow.Options: SurgeryWorkflowOptions {}
extension AverageWorkflow.Options: SurgeryWorkflowOptions {}
extension AverageWorkflow.InterpolationOptions: SurgeryWorkflowOptions {}
extension LoRAWorkflow.MergeOptions: SurgeryWorkflowOptions {}
extension DenoiseRepWorkflow.FuseOptions: SurgeryWorkflowOptions {}
extension MoEWorkflow.Common: SurgeryWorkflowOptions {}

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
    (o.imageSize, o.resamplePositionEmbedding) = (imgSize.nonEmpty, resamplePosEmbed.nonEmpty)
    (o.numPrefixTokens, o.assumeDefaults, o.ignoreUnused) = (numPrefixTokens, assumeDefaults, ignoreUnused)
    return o
  }
}

extension Array {
  fileprivate var nonEmpty: Self? { isEmpty ? nil : self }
}

/// What `--to` names: an output format, or the MoE architecture a model folder is upcycled into.
enum OutputTarget: ExpressibleByArgument, Equatable {
  case format(CheckpointFormat)
  case llm(LLMMoETarget)

  init?(argument: String) {
    if let t = LLMMoETarget(rawValue: argument.lowercased()) {
      self = .llm(t)
    } else if let f = CheckpointFormat(argument: argument) {
      self = .format(f)
    } else {
      return nil
    }
  }

  static var allValueStrings: [String] { CheckpointFormat.allValueStrings + LLMMoETarget.allValueStrings }
  var format: CheckpointFormat? { if case .format(let f) = self { f } else { nil } }
  var llm: LLMMoETarget? { if case .llm(let t) = self { t } else { nil } }
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

extension MoERouterInit: ExpressibleByArgument {
  /// Parses `zero`, `normal`, `normal:0.02`, `orthogonal`, `centroid`.
  public init?(argument: String) { self.init(parsing: argument) }
  /// The forms `--router` accepts.
  public static var allValueStrings: [String] { ["zero", "normal[:σ]", "orthogonal", "centroid"] }
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
extension LLMMoELayout: ExpressibleByArgument {}
extension LLMSharedExpert: ExpressibleByArgument {}
extension LLMMoETarget: ExpressibleByArgument {}

/// The two paths of a command that turns one checkpoint into another.
struct InputOutput: ParsableArguments {
  @Argument(help: "The input checkpoint.") var input: String
  @Argument(help: "The output path; its extension picks the format unless --to is given.") var output: String
}
