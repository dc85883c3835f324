import ArgumentParser
import Graft

struct MoECommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "moe",
    abstract: "Turn a dense timm ViT into a mixture of experts: Jetpack recycling or sparse upcycling, verified.",
    discussion: """
      Every conversion is followed by the exactness checks of Formats/moe-layouts.md: strict key set, byte-identical \
      non-expert tensors, bitwise expert slicing, and engine runs that must reproduce the dense model where the \
      construction is exact (copies + renormalised top-k, partition + all experts on) or report how far it is. \
      Nothing is written when a check fails (exit status 1).
      """,
    subcommands: [Recycle.self, Upcycle.self])
}

/// The flags both subcommands share.
struct MoECommonOptions: ParsableArguments {
  @Argument(help: "The dense checkpoint (upcycle: or Hugging Face model folder).") var input: String
  @Argument(help: "The output path; its extension picks the format unless --to is given.") var output: String
  @Option(
    help: "MoE blocks: all, last-half, every-N[+OFFSET], or a list/ranges such as 6-11 or 0,2,4.",
    transform: { try MoELayerSelection(parsing: $0) })
  var layers: MoELayerSelection?
  @Option(help: "The seed of every random choice.") var seed: UInt64?
  @Option(help: "Also write the manifest (index sets, strategy, seed, statistics, checks) to this JSON file.")
  var manifest: String?
  @Option(help: "Generic layout: router init.") var router = MoERouterInit.normal(0.02)
  @OptionGroup var vit: ModelOptions
  @OptionGroup var surgery: SurgeryOptions
  @OptionGroup var printing: PrintOptions

  func common(allowingLLMTarget: Bool = false) throws -> MoEWorkflow.Common {
    var c = try surgery.apply(
      to: MoEWorkflow.Common(input: input, output: output), allowingLLMTarget: allowingLLMTarget)
    (c.manifestPath, c.model) = (manifest, vit.model)
    return c
  }
}

extension MoECommand {
  struct Recycle: WorkflowCommand {
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
          graft moe recycle vit.safetensors moe.graft --experts 8 --ratio 0.25
          graft moe recycle vit.safetensors moe.graft --strategy importance-l2
          graft moe recycle vit.pth moe.graft --calib images.npz --layers last-half
          graft moe recycle vit_t.pth moe.pth --teacher vit_s.pth --layout dual-path
          graft moe recycle t.pth moe.pth --layout dual-path --core-experts 98
        """)

    @Option(help: "Experts per MoE layer (simplified and generic layouts).") var experts = 8
    @Option(help: "Expert hidden size as a fraction of the dense hidden size (teacher width: d_student/d_teacher).")
    var ratio: Double?
    @Option(help: "How hidden units are chosen per expert.") var strategy = MoERecycleStrategy.random
    @Flag(help: "Importance: take the global top-k instead of sampling.") var globalTopK = false
    @Option(help: "Co-activation: the number of graph communities.") var communities = 32
    @Option(help: "The output layout.") var layout = MoELayout.jetpack
    @Option(help: "Dual path: core experts.") var coreExperts = 4
    @Option(help: "Dual path: universal experts.") var univExperts = 8
    @Option(help: "Dual path: universal expert size relative to a core expert.") var univFactor = 0.25
    @Option(help: "Generic layout: experts per token.") var topK = 2
    @Option(help: "A wider dense checkpoint to sample the experts from (teacher-width mode).") var teacher: String?
    @Option(help: "Calibration images [N, C, H, W] (any format; the first 4-D float tensor).") var calib: String?
    @Option(help: "Gather statistics on N seeded synthetic images instead of --calib.") var synthetic: Int?
    @Flag(help: "Gather the h×h co-activation counts too (coactivation strategy).") var coactivation = false
    @OptionGroup var common: MoECommonOptions
    var printing: PrintOptions { common.printing }

    func validate() throws {
      if calib != nil && synthetic != nil { throw ValidationError("pass either --calib or --synthetic, not both") }
      if let synthetic, synthetic < 1 { throw ValidationError("--synthetic needs a positive count") }
    }

    func workflow() throws -> any WorkflowResult {
      var o = MoEWorkflow.RecycleOptions(input: common.input, output: common.output)
      o.common = try common.common()
      (o.recycle.experts, o.recycle.ratio, o.recycle.strategy) = (experts, ratio, strategy)
      (o.recycle.globalTopK, o.recycle.communities, o.recycle.layout) = (globalTopK, communities, layout)
      (o.recycle.coreExperts, o.recycle.universalExperts) = (coreExperts, univExperts)
      (o.recycle.universalFactor, o.recycle.topK, o.recycle.router) = (univFactor, topK, common.router)
      if let layers = common.layers { o.recycle.layers = layers }
      if let seed = common.seed { o.recycle.seed = seed }
      (o.teacher, o.coactivation) = (teacher, coactivation)
      o.statistics = calib.map { .calibration($0) } ?? synthetic.map { .synthetic($0) } ?? .none
      return try MoEWorkflow.recycle(o)
    }
  }

  struct Upcycle: WorkflowCommand {
    static let configuration = CommandConfiguration(
      abstract: "Sparse upcycling (E identical copies + router) or exact partitioning of the dense MLPs.",
      discussion: """
        The generic layout (blocks.N.mlp.router.weight [E, d], blocks.N.mlp.experts.{e}.fc1.weight) runs in the \
        engine with no flags: experts, top-k, gate and layers are written into the metadata (graft.moe).

        Exact constructions: copies with --gate softmax-topk-renorm (any k, any router); partition with all experts \
        on (checked whatever --gate says). --gate softmax-topk (V-MoE) gives y = (Σg)·f, which is checked as such.

        Examples:
          graft moe upcycle vit.safetensors moe.safetensors --experts 8 --top-k 2
          graft moe upcycle v.pth moe.graft --method partition --partition clustering
          graft moe upcycle v.pth moe.graft --shared-hidden 384 --router centroid
          graft moe upcycle v.pth moe.graft --layers every-2+1

        A Hugging Face model folder (Llama, Mistral, Qwen2, Qwen3) becomes a Mixtral, Qwen2-MoE or Qwen3-MoE folder \
        (--to), checked the same way plus an engine run of both models on seeded token ids:
          graft moe upcycle llama-1b/ llama-8x1b/ --to mixtral --experts 8 --top-k 2
          graft moe upcycle qwen3/ qwen3-moe/ --to qwen3-moe --method partition
        """)

    @Option(help: "Routed experts per MoE layer.") var experts = 8
    @Option(help: "Experts per token.") var topK = 2
    @Option(help: "The construction.") var method = MoEUpcycle.Method.copies
    @Option(help: "Partition strategy.") var partition = MoEPartitionStrategy.random
    @Option(help: "Partition: hidden units of an always-on shared expert.") var sharedHidden = 0
    @Option(help: "The gate convention (default softmax-topk-renorm).") var gate: MoEGateConvention?
    @Option(help: "The output layout: generic, jetpack; for model folders v4 (default) or v5-fused.")
    var layout: UpcycleLayout?
    @Option(help: "Model folders: Drop-Upcycling, re-initialise this fraction of each expert.") var dropRatio: Double?
    @Option(help: "Model folders: Gaussian noise σ added to every expert weight.") var noise: Double?
    @Option(help: "Model folders, qwen2-moe: the shared expert, dense or zero (default).")
    var sharedExpert: LLMSharedExpert?
    @Option(help: "Model folders, Qwen targets: renormalise the top-k weights.") var normTopkProb: Bool?
    @Option(help: "Model folders: token ids [B, T] whose hidden-state means initialise the router.")
    var calibration: String?
    @Option(help: "Model folders: the largest weight shard in bytes (default 5e9).") var shardSize: Int?
    @Option(
      help: "Model folders: run both whole models in the engine when their Float32 size is below this (default 2).")
    var engineLimitGB: Double?
    @OptionGroup var common: MoECommonOptions
    var printing: PrintOptions { common.printing }

    func validate() throws {
      if let g = engineLimitGB, !(g >= 0 && g < 1e9) { throw ValidationError("--engine-limit-gb must be 0 to 1e9") }
    }

    func workflow() throws -> any WorkflowResult {
      var o = MoEWorkflow.UpcycleOptions(input: common.input, output: common.output)
      o.common = try common.common(allowingLLMTarget: true)
      (o.upcycle.experts, o.upcycle.topK, o.upcycle.method) = (experts, topK, method)
      (o.upcycle.partition, o.upcycle.sharedHidden, o.upcycle.router) = (partition, sharedHidden, common.router)
      if let gate { o.upcycle.gate = gate }
      if case .vit(let l) = layout { o.upcycle.layout = l }
      if let layers = common.layers { o.upcycle.layers = layers }
      if let seed = common.seed { o.upcycle.seed = seed }
      var f = MoEWorkflow.FolderOptions()
      if case .llm(let l) = layout { f.layout = l }
      (f.target, f.dropRatio, f.noise, f.sharedExpert) = (common.surgery.output.to?.llm, dropRatio, noise, sharedExpert)
      (f.normalizeTopK, f.calibration, f.shardSize) = (normTopkProb, calibration, shardSize)
      f.wholeModelByteLimit = engineLimitGB.map { Int($0 * 1e9) }
      return try MoEWorkflow.upcycleDetected(o, folder: f)
    }
  }
}

/// `--layout` of `graft moe upcycle`: a ViT layout, or the key layout of an LLM target.
enum UpcycleLayout: ExpressibleByArgument, Equatable {
  case vit(MoELayout)
  case llm(LLMMoELayout)

  init?(argument: String) {
    guard let layout = LLMMoELayout(rawValue: argument).map(Self.llm) ?? MoELayout(rawValue: argument).map(Self.vit)
    else { return nil }
    self = layout
  }

  static var allValueStrings: [String] { MoELayout.allValueStrings + LLMMoELayout.allValueStrings }
}
