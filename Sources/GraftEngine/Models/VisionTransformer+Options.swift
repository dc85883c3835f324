public import GraftCore

extension VisionTransformer {
  /// How the token sequence becomes the features the head reads (timm `global_pool`).
  public enum GlobalPool: String, Sendable, CaseIterable {
    /// The class token (`'token'`).
    case token
    /// The mean of the tokens (`'avg'`).
    case avg
    /// The elementwise maximum of the tokens (`'max'`).
    case max
    /// `(max + mean) / 2` (`'avgmax'`).
    case avgmax
    /// Attention pooling with a learned latent query (`'map'`, timm `AttentionPoolLatent`).
    case map
    /// No pooling (`''`): the head reads every token and the output keeps the sequence axis.
    case none

    /// Parses timm's values; `''` is ``none``.
    ///
    /// - Throws: `unsupported` for `'prr'`, which the engine does not implement; `invalidModel` for unknown values.
    public static func parse(_ text: String) throws(GraftError) -> GlobalPool {
      if text.isEmpty { return .none }
      if let pool = GlobalPool(rawValue: text.lowercased()) { return pool }
      if text.lowercased() == "prr" {
        throw GraftError(.unsupported, "global_pool='prr' (timm AttentionPoolPrr) is not supported")
      }
      throw GraftError(
        .invalidModel, "global_pool '\(text)' is not one of token, avg, max, avgmax, map or none"
      ).resolved(
        by: "globalPool")
    }
  }

  /// Choices the tensors cannot tell, and how strict to be; every value left `nil` comes from the checkpoint's
  /// metadata, the tensors, or (with ``assumeDefaults``) a reported guess.
  public struct Options: Sendable {
    /// The number of attention heads.
    public var heads: Int?
    /// The pooling.
    public var globalPool: GlobalPool?
    /// Whether avg/max/avgmax/map pooling also reads the prefix (class, register) tokens (timm `pool_include_prefix`).
    public var poolIncludePrefix: Bool?
    /// Whether the checkpoint has an `fc_norm` after pooling (checked against the tensors).
    public var fcNorm: Bool?
    /// The kind of every norm layer.
    public var normKind: NormKind?
    /// The epsilon of every norm layer.
    public var normEps: Float?
    /// The MLP activation (timm `act_layer`).
    public var activation: Activation?
    /// Which half of a packed gated MLP is the gate (``MLPKind/swigluPacked`` or ``MLPKind/glu``); checked against
    /// the tensors for the other kinds.
    public var mlpKind: MLPKind?
    /// The number of prefix tokens (class, distillation, register), checked against the tensors.
    public var numPrefixTokens: Int?
    /// The checkpoint's image size `[height, width]` or `[side]` (timm `img_size`): needed for non-square grids and
    /// checkpoints without `pos_embed`.
    public var imageSize: [Int]?
    /// Run at this image size `[height, width]` or `[side]`, resampling the position embeddings bicubically (timm
    /// `resample_abs_pos_embed`, prefix tokens kept).
    public var resamplePositionEmbedding: [Int]?
    /// Whether the resampling is antialiased (timm's default is `true`).
    public var resampleAntialias = true
    /// Build even when a value is undetermined, taking timm's default and reporting it as assumed.
    public var assumeDefaults = false
    /// Build even when tensors are left unused (they are listed in the configuration).
    public var ignoreUnused = false
    /// A timm `config.json` / `pretrained_cfg`, a Hugging Face ViT `config.json`, or a flat object of timm argument
    /// names, found beside the checkpoint (the engine reads no files: the caller passes the parsed object).
    public var architectureMetadata: JSONObject?
    /// What to call ``architectureMetadata`` in reports (such as the file's name).
    public var architectureMetadataSource = "config.json"
    /// MLP kinds tried in order before the dense and gated MLPs (for MoE or DenoiseRep layers).
    public var feedForwardBuilders: [any FeedForwardBuilder]
    /// When the Linear weights are packed for the GEMM: at build (the default), or per call for a model run once.
    public var weightPacking = WeightPacking.atBuild

    /// Creates options; unset values come from metadata or tensors.
    public init(
      heads: Int? = nil, globalPool: GlobalPool? = nil, normEps: Float? = nil, activation: Activation? = nil,
      assumeDefaults: Bool = false, feedForwardBuilders: [any FeedForwardBuilder] = []
    ) {
      self.heads = heads
      self.globalPool = globalPool
      self.normEps = normEps
      self.activation = activation
      self.assumeDefaults = assumeDefaults
      self.feedForwardBuilders = feedForwardBuilders
    }
  }
}
