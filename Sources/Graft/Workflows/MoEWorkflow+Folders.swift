extension MoEWorkflow {
  /// What upcycling a Hugging Face model folder takes beyond the settings it shares with a ViT (experts, top-k,
  /// construction, router, layers, seed); `nil` leaves ``LLMMoEWorkflow``'s default.
  public struct FolderOptions: Sendable {
    /// The MoE architecture to write; required for a model folder.
    public var target: LLMMoETarget?
    /// The expert key layout.
    public var layout: LLMMoELayout?
    /// Drop-Upcycling: the fraction of each expert re-initialised.
    public var dropRatio: Double?
    /// Gaussian noise σ added to every expert weight.
    public var noise: Double?
    /// Qwen2-MoE: what the shared expert starts as.
    public var sharedExpert: LLMSharedExpert?
    /// Qwen targets: whether the top-k weights are renormalised.
    public var normalizeTopK: Bool?
    /// Token ids whose hidden-state means initialise the router.
    public var calibration: String?
    /// The largest weight shard in bytes.
    public var shardSize: Int?
    /// Run both whole models in the engine when their Float32 size is at most this many bytes.
    public var wholeModelByteLimit: Int?

    /// Creates options that leave every value to the workflow.
    public init() {}

    /// The options set, which a ViT would not use.
    var given: [String] {
      let set: [(String, Bool)] = [
        ("target", target != nil), ("layout", layout != nil), ("dropRatio", dropRatio != nil), ("noise", noise != nil),
        ("sharedExpert", sharedExpert != nil), ("normalizeTopK", normalizeTopK != nil),
        ("calibration", calibration != nil), ("shardSize", shardSize != nil),
        ("wholeModelByteLimit", wholeModelByteLimit != nil),
      ]
      return set.filter(\.1).map(\.0)
    }
  }

  /// Upcycles either kind of input: a Hugging Face model folder into `folder.target` through
  /// ``LLMMoEWorkflow/upcycle(_:)`` with the settings `options` shares with it, anything else through
  /// ``upcycle(_:)``.
  ///
  /// - Throws: `invalidArgument` resolved by the first setting that applies only to the other kind of input, or by
  ///   `target` when a model folder has none.
  public static func upcycleDetected(_ options: UpcycleOptions, folder: FolderOptions) throws -> any WorkflowResult {
    let c = options.common
    let u = options.upcycle
    guard ModelInput.isModelFolder(c.input) else {
      try ModelInput.refuse(
        folder.given, for: c.input, isLanguageModel: false, languageModels: "model folders (config.json + weights)")
      return try upcycle(options)
    }
    let defaults = MoEUpcycle.Options()
    let vitOnly =
      [("gate", u.gate != defaults.gate), ("sharedHidden", u.sharedHidden != 0)]
      + [("layout", u.layout != defaults.layout), ("format", c.output.format != nil)]
    try ModelInput.refuse(vitOnly.filter(\.1).map(\.0) + c.model.given, for: c.input, isLanguageModel: true)
    guard let target = folder.target else {
      throw GraftError(
        .invalidArgument, "\(c.input) is a model folder: name the MoE architecture, mixtral|qwen2-moe|qwen3-moe"
      ).resolved(by: "target")
    }
    var o = LLMMoEWorkflow.Options(input: c.input, output: c.output.path)
    (o.read, o.verify, o.manifestPath, o.calibration) = (c.read, c.verify, c.manifestPath, folder.calibration)
    o.upcycle.target = target
    o.upcycle.construction = u.method == .copies ? .copies : .partition(u.partition)
    (o.upcycle.experts, o.upcycle.topK, o.upcycle.router) = (u.experts, u.topK, u.router)
    (o.upcycle.layers, o.upcycle.seed, o.upcycle.normalizeTopK) = (u.layers, u.seed, folder.normalizeTopK)
    if let l = folder.layout { o.upcycle.layout = l }
    if let r = folder.dropRatio { o.upcycle.dropRatio = r }
    if let n = folder.noise { o.upcycle.noise = n }
    if let s = folder.sharedExpert { o.upcycle.sharedExpert = s }
    if let s = folder.shardSize {
      guard s > 0 else {
        throw GraftError(.invalidArgument, "a shard must hold at least one byte").resolved(by: "shardSize")
      }
      o.shardSize = s
    }
    if let b = folder.wholeModelByteLimit { o.check.wholeModelByteLimit = b }
    let result = try LLMMoEWorkflow.upcycle(o)
    try c.output.writeReport(result.json, inputs: [c.input])
    return result
  }
}
