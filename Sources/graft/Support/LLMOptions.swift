public import ArgumentParser
public import Graft

/// `graft run` options that apply when the checkpoint is a Hugging Face model folder.
struct LLMRunOptions: ParsableArguments {
  @Option(help: "Model folders: token ids such as 1,2,3 (repeat for a batch of equal-length sequences).")
  var tokens: [String] = []
  @Option(name: .customLong("tokens-file"), help: "Model folders: token ids in an integer array file, [T] or [B, T].")
  var tokensFile: String?
  @Option(help: "Model folders: greedy decoding steps after the prompt (KV cache); prints the token ids.")
  var generate = 0
  @Option(help: "Model folders: the most likely next tokens printed per position.") var top = 3

  func validate() throws {
    if !tokens.isEmpty && tokensFile != nil { throw ValidationError("pass either --tokens or --tokens-file") }
    if generate < 0 { throw ValidationError("--generate must not be negative") }
    if top < 0 { throw ValidationError("--top must not be negative") }
  }

  /// Refuses LLM flags for a checkpoint that is not a model folder, and image flags for one that is.
  func refuseMismatch(isLLM: Bool, imageFlags: [String: Bool]) throws {
    let llmFlags = ["--tokens": !tokens.isEmpty, "--tokens-file": tokensFile != nil, "--generate": generate != 0]
    let wrong = (isLLM ? imageFlags : llmFlags).filter(\.value).keys.sorted()
    guard let flag = wrong.first else { return }
    throw ValidationError(
      isLLM
        ? "\(flag) applies to image models; a model folder runs on --tokens or --tokens-file"
        : "\(flag) applies to model folders (config.json + weights); this checkpoint is not one")
  }

  /// Runs the folder through ``LLMRunWorkflow`` and prints the result.
  func run(model: String, output: String?, reading: ReadingOptions, json: Bool) throws {
    var o = LLMRunWorkflow.Options(model: model)
    o.read = reading.readOptions
    o.tokens = try tokensFile.map { try LLMTokens.read($0) } ?? tokens.map { try LLMTokens.parse($0) }
    o.generate = generate
    o.outputPath = output
    o.topTokens = top
    let result = try LLMRunWorkflow.run(o)
    Failure.print(json: json, result.json, text: result.lines.joined(separator: "\n"))
  }
}

/// `graft check` options that apply when both checkpoints are model folders.
struct LLMCheckOptions: ParsableArguments {
  @Option(name: .customLong("tokens-file"), help: "Model folders: token ids [B, T] to run instead of seeded ones.")
  var tokensFile: String?
  @Option(name: .customLong("tokens-per-sequence"), help: "Model folders: the length of each seeded sequence.")
  var tokensPerSequence = 16

  func validate() throws {
    if tokensPerSequence < 1 { throw ValidationError("--tokens-per-sequence must be at least 1") }
  }
}

/// What `--to` names: an output format, or the MoE architecture a model folder is upcycled into.
enum OutputTarget: ExpressibleByArgument, Equatable {
  /// A checkpoint format.
  case format(CheckpointFormat)
  /// `graft moe upcycle` of a model folder: mixtral, qwen2-moe, qwen3-moe.
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

  static var allValueStrings: [String] {
    CheckpointFormat.allValueStrings + LLMMoETarget.allCases.map(\.rawValue)
  }

  /// The format, `nil` for an LLM target.
  var format: CheckpointFormat? { if case .format(let f) = self { f } else { nil } }
  /// The LLM target, `nil` for a format.
  var llm: LLMMoETarget? { if case .llm(let t) = self { t } else { nil } }
}

extension OutputOptions {
  /// Refuses an LLM MoE target in a command that writes checkpoints of a given format.
  func refuseLLMTarget() throws {
    if let t = to?.llm {
      throw ValidationError(
        "--to \(t.rawValue) names an LLM MoE target; only graft moe upcycle of a model folder takes it")
    }
  }
}

/// `--layout` of `graft moe upcycle`: a ViT layout, or the key layout of an LLM target.
enum UpcycleLayout: ExpressibleByArgument, Equatable {
  /// The ViT layouts (generic, jetpack).
  case vit(MoELayout)
  /// The LLM key layouts (v4, v5-fused).
  case llm(LLMMoELayout)

  init?(argument: String) {
    if let l = LLMMoELayout(rawValue: argument) {
      self = .llm(l)
    } else if let l = MoELayout(rawValue: argument) {
      self = .vit(l)
    } else {
      return nil
    }
  }

  static var allValueStrings: [String] { MoELayout.allValueStrings + LLMMoELayout.allCases.map(\.rawValue) }
}

/// `graft moe upcycle` options that apply when the input is a model folder.
struct LLMUpcycleOptions: ParsableArguments {
  @Option(
    name: .customLong("drop-ratio"), help: "Model folders: Drop-Upcycling, re-initialise this fraction of each expert.")
  var dropRatio: Double?
  @Option(help: "Model folders: Gaussian noise σ added to every expert weight.") var noise: Double?
  @Option(
    name: .customLong("shared-expert"), help: "Model folders, qwen2-moe: the shared expert, dense or zero (default).")
  var sharedExpert: LLMSharedExpert?
  @Option(name: .customLong("norm-topk-prob"), help: "Model folders, Qwen targets: renormalise the top-k weights.")
  var normTopkProb: Bool?
  @Option(help: "Model folders: token ids [B, T] whose hidden-state means initialise the router.")
  var calibration: String?
  @Option(name: .customLong("shard-size"), help: "Model folders: the largest weight shard in bytes (default 5e9).")
  var shardSize: Int?
  @Option(
    name: .customLong("engine-limit-gb"),
    help: "Model folders: run both whole models in the engine when their Float32 size is below this (default 2).")
  var engineLimitGB: Double?

  func validate() throws {
    if let shardSize, shardSize < 1 { throw ValidationError("--shard-size must be positive") }
    if let engineLimitGB, !(engineLimitGB >= 0) { throw ValidationError("--engine-limit-gb must not be negative") }
  }

  /// The flags given, for refusing them on a ViT input.
  var given: [String] {
    let flags: [(String, Bool)] = [
      ("--drop-ratio", dropRatio != nil), ("--noise", noise != nil), ("--shared-expert", sharedExpert != nil),
      ("--norm-topk-prob", normTopkProb != nil), ("--calibration", calibration != nil),
      ("--shard-size", shardSize != nil), ("--engine-limit-gb", engineLimitGB != nil),
    ]
    return flags.filter(\.1).map(\.0)
  }
}

extension MoECommand.Upcycle {
  /// The workflow options for a model folder, refusing the ViT-only flags that were given.
  func llmOptions(target: LLMMoETarget?) throws -> LLMMoEWorkflow.Options {
    guard let target else {
      throw ValidationError(
        "\(input) is a model folder: name the MoE architecture with --to mixtral|qwen2-moe|qwen3-moe")
    }
    let vitOnly = [
      "--gate": gate != nil, "--shared-hidden": sharedHidden != 0,
      "--" + (common.vit.given.first ?? ""): !common.vit.given.isEmpty,
      "--layout \(layoutDescription)": { if case .vit = layout { layout != .vit(.generic) } else { false } }(),
    ]
    if let flag = vitOnly.filter(\.value).keys.sorted().first {
      throw ValidationError("\(flag) applies to ViT checkpoints; \(input) is a model folder")
    }
    var o = LLMMoEWorkflow.Options(input: input, output: output)
    o.read = common.surgery.reading.readOptions
    o.upcycle.target = target
    if case .llm(let l) = layout { o.upcycle.layout = l }
    o.upcycle.experts = experts
    o.upcycle.topK = topK
    o.upcycle.construction = method == .copies ? .copies : .partition(partition)
    o.upcycle.router = router
    o.upcycle.layers = common.layers ?? .all
    if let seed = common.seed { o.upcycle.seed = seed }
    if let r = llm.dropRatio { o.upcycle.dropRatio = r }
    if let n = llm.noise { o.upcycle.noise = n }
    if let s = llm.sharedExpert { o.upcycle.sharedExpert = s }
    o.upcycle.normalizeTopK = llm.normTopkProb
    o.calibration = llm.calibration
    o.verify = common.surgery.verification.verify
    if let gb = llm.engineLimitGB { o.check.wholeModelByteLimit = Int(gb * 1e9) }
    if let s = llm.shardSize { o.shardSize = s }
    o.manifestPath = common.manifest
    return o
  }

  private var layoutDescription: String {
    switch layout {
    case .vit(let l): return l.rawValue
    case .llm(let l): return l.rawValue
    }
  }

  /// Refuses the flags of model folders for a ViT input.
  func refuseLLMFlags() throws {
    var given = llm.given
    if let t = outputOptions.to?.llm { given.insert("--to \(t.rawValue)", at: 0) }
    if case .llm = layout { given.insert("--layout \(layoutDescription)", at: 0) }
    if let flag = given.first {
      throw ValidationError("\(flag) applies to model folders (config.json + weights); \(input) is not one")
    }
  }
}

extension ModelOptions {
  /// The ViT architecture flags given, such as `heads` (without the dashes).
  var given: [String] {
    let flags: [(String, Bool)] = [
      ("heads", heads != nil), ("global-pool", globalPool != nil), ("pool-include-prefix", poolIncludePrefix != nil),
      ("fc-norm", fcNorm != nil), ("act", act != nil), ("norm", norm != nil), ("norm-eps", normEps != nil),
      ("mlp", mlp != nil), ("num-prefix-tokens", numPrefixTokens != nil), ("img-size", !imgSize.isEmpty),
      ("resample-pos-embed", !resamplePosEmbed.isEmpty), ("assume-defaults", assumeDefaults),
      ("ignore-unused", ignoreUnused),
    ]
    return flags.filter(\.1).map(\.0)
  }

  /// The ViT flags given, as `--flag: true`, for ``LLMRunOptions/refuseMismatch(isLLM:imageFlags:)``.
  var givenFlags: [String: Bool] { Dictionary(uniqueKeysWithValues: given.map { ("--" + $0, true) }) }

  /// Refuses ViT flags for model folders.
  func refuse(forModelFolder isLLM: Bool) throws {
    if isLLM, let flag = given.first {
      throw ValidationError(
        "--\(flag) applies to image models; model folders take their configuration from config.json")
    }
  }
}

extension LLMMoELayout: ExpressibleByArgument {}
extension LLMSharedExpert: ExpressibleByArgument {}
extension LLMMoETarget: ExpressibleByArgument {}
