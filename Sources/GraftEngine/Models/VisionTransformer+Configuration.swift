public import GraftCore

extension VisionTransformer {
  /// How the token sequence becomes one feature vector.
  public enum GlobalPool: String, Sendable, CaseIterable {
    /// The class token (timm `global_pool='token'`).
    case token
    /// The mean of the patch tokens, prefix tokens excluded (timm `'avg'`).
    case avg
    /// The elementwise maximum of the patch tokens (timm `'max'`).
    case max
  }

  /// A ViT's hyperparameters, inferred from tensor names and shapes.
  public struct Configuration: Sendable, Equatable {
    /// The model width.
    public var embedDim: Int
    /// The number of blocks.
    public var depth: Int
    /// The number of attention heads.
    public var heads: Int
    /// The MLP hidden width of the first block.
    public var mlpHidden: Int
    /// The patch height and width.
    public var patchSize: [Int]
    /// The input height and width.
    public var imageSize: [Int]
    /// The input channels.
    public var inChannels: Int
    /// Whether a class token is prepended.
    public var hasClassToken: Bool
    /// The number of register tokens (timm `reg_tokens`).
    public var registerTokens: Int
    /// Whether `pos_embed` covers only the patches (timm `no_embed_class=True`).
    public var noEmbedClass: Bool
    /// The pooling.
    public var globalPool: GlobalPool
    /// The number of classes of the head; 0 when there is none and the output is the pooled features.
    public var numClasses: Int
    /// The LayerNorm epsilon.
    public var layerNormEps: Float
    /// The MLP activation.
    public var activation: Activation

    /// The number of patches along height and width.
    public var grid: [Int] { [imageSize[0] / patchSize[0], imageSize[1] / patchSize[1]] }
    /// Class and register tokens.
    public var prefixTokens: Int { (hasClassToken ? 1 : 0) + registerTokens }
    /// The sequence length.
    public var tokens: Int { prefixTokens + grid[0] * grid[1] }

    /// The configuration as JSON, for reports.
    public var json: JSONValue {
      [
        "embed_dim": .integer(embedDim), "depth": .integer(depth), "num_heads": .integer(heads),
        "mlp_hidden": .integer(mlpHidden), "patch_size": .array(patchSize.map(JSONValue.integer)),
        "img_size": .array(imageSize.map(JSONValue.integer)), "in_chans": .integer(inChannels),
        "class_token": .bool(hasClassToken), "reg_tokens": .integer(registerTokens),
        "no_embed_class": .bool(noEmbedClass), "global_pool": .string(globalPool.rawValue),
        "num_classes": .integer(numClasses),
        "layer_norm_eps": .double(Double("\(layerNormEps)") ?? Double(layerNormEps)),
        "activation": .string(activation.rawValue),
      ]
    }
  }

  /// Choices that the tensors cannot tell.
  public struct Options: Sendable {
    /// The number of heads; otherwise metadata `num_heads`, otherwise `embed_dim / 64`.
    public var heads: Int?
    /// The pooling; otherwise `avg` when there is an `fc_norm` or no class token, else `token`.
    public var globalPool: GlobalPool?
    /// The LayerNorm epsilon (timm: 1e-6, the default; `nn.MultiheadAttention`-based models usually 1e-5).
    public var layerNormEps: Float
    /// The MLP activation; otherwise metadata `activation` (`gelu`, `gelu_tanh`), otherwise exact GELU (timm's
    /// default).
    public var activation: Activation?
    /// MLP kinds tried in order before the dense MLP (for MoE or DenoiseRep layers).
    public var feedForwardBuilders: [any FeedForwardBuilder]

    /// Creates options; unset values are inferred.
    public init(
      heads: Int? = nil, globalPool: GlobalPool? = nil, layerNormEps: Float = 1e-6, activation: Activation? = nil,
      feedForwardBuilders: [any FeedForwardBuilder] = []
    ) {
      self.heads = heads
      self.globalPool = globalPool
      self.layerNormEps = layerNormEps
      self.activation = activation
      self.feedForwardBuilders = feedForwardBuilders
    }
  }

  /// Wrapper prefixes that training frameworks put in front of every key.
  public static let acceptedPrefixes = ["module.", "model.", "base.", "backbone."]

  /// Finds the prefix under which the ViT's tensors live (`""`, `module.`, `module.model.`, …).
  static func detectPrefix(_ table: TensorTable) throws(GraftError) -> String {
    let anchor = "patch_embed.proj.weight"
    var candidates: [String] = []
    for name in table.names where name.hasSuffix(anchor) {
      var rest = Substring(name.dropLast(anchor.count))
      let prefix = String(rest)
      var ok = true
      while !rest.isEmpty {
        guard let p = acceptedPrefixes.first(where: { rest.hasPrefix($0) }) else {
          ok = false
          break
        }
        rest = rest.dropFirst(p.count)
      }
      if ok { candidates.append(prefix) }
    }
    guard let best = candidates.min(by: { $0.count < $1.count }) else {
      let sample = table.names.prefix(3).map { "'\($0)'" }.joined(separator: ", ")
      throw GraftError(
        .invalidModel,
        "not a timm VisionTransformer: no tensor '\(anchor)' (optionally under \(acceptedPrefixes.joined(separator: ", "))); "
          + "the checkpoint has \(table.count) tensors, such as \(sample)", tensor: anchor)
    }
    return best
  }

  /// Infers the configuration from the tensors under the detected prefix.
  static func inferConfiguration(
    _ weights: WeightLoader, metadata: JSONObject, options: Options
  ) throws(GraftError)
    -> Configuration
  {
    let patch = try weights.requireShape("patch_embed.proj.weight", expecting: "[embed_dim, in_chans, p, p]")
    guard patch.count == 4, patch.allSatisfy({ $0 > 0 }) else {
      throw GraftError(
        .invalidModel, "has shape \(patch); expected [embed_dim, in_chans, patch, patch]",
        tensor: weights.fullName("patch_embed.proj.weight"))
    }
    let d = patch[0]
    var depth = 0
    while weights.contains("blocks.\(depth).norm1.weight") || weights.contains("blocks.\(depth).attn.qkv.weight") {
      depth += 1
    }
    let stray = weights.table.names.first { name in
      guard name.hasPrefix(weights.prefix + "blocks.") else { return false }
      let rest = name.dropFirst(weights.prefix.count + 7)
      guard let index = Int(rest.prefix { $0 != "." }) else { return false }
      return index >= depth
    }
    if let stray {
      throw GraftError(
        .invalidModel, "block numbering has a gap: blocks 0..<\(depth) are complete but this tensor follows",
        tensor: stray)
    }
    guard depth > 0 else {
      throw GraftError(
        .invalidModel, "missing tensor; a ViT needs at least one block with 'norm1.weight' of shape [\(d)]",
        tensor: weights.fullName("blocks.0.norm1.weight"))
    }
    let hasCls = weights.contains("cls_token")
    if hasCls { _ = try weights.floats("cls_token", shape: [1, 1, d]) }
    var registers = 0
    if let r = weights.shape("reg_token") {
      guard r.count == 3, r[0] == 1, r[2] == d else {
        throw GraftError(
          .invalidModel, "has shape \(r); expected [1, reg_tokens, \(d)]", tensor: weights.fullName("reg_token"))
      }
      registers = r[1]
    }
    let prefixTokens = (hasCls ? 1 : 0) + registers
    let pos = try weights.requireShape("pos_embed", expecting: "[1, tokens, \(d)]")
    guard pos.count == 3, pos[0] == 1, pos[2] == d, pos[1] > 0 else {
      throw GraftError(
        .invalidModel, "has shape \(pos); expected [1, tokens, \(d)]", tensor: weights.fullName("pos_embed"))
    }
    func squareRoot(_ n: Int) -> Int? {
      guard n > 0 else { return nil }
      var r = 0
      while (r + 1) * (r + 1) <= n { r += 1 }
      return r * r == n ? r : nil
    }
    let noEmbedClass: Bool
    let gridSide: Int
    if prefixTokens > 0, let g = squareRoot(pos[1] - prefixTokens) {
      noEmbedClass = false
      gridSide = g
    } else if let g = squareRoot(pos[1]) {
      noEmbedClass = prefixTokens > 0
      gridSide = g
    } else {
      throw GraftError(
        .invalidModel,
        "has \(pos[1]) positions, which is neither a square grid nor a square grid plus \(prefixTokens) prefix tokens",
        tensor: weights.fullName("pos_embed"))
    }
    let heads: Int
    if let h = options.heads {
      heads = h
    } else if let h = Self.metadataHeads(metadata) {
      heads = h
    } else {
      heads = max(1, d / 64)
    }
    guard heads > 0, d % heads == 0 else {
      throw GraftError(
        .invalidModel, "\(heads) heads do not divide the width \(d); give the number of attention heads",
        tensor: weights.fullName("blocks.0.attn.qkv.weight"))
    }
    let fc1 = weights.shape("blocks.0.mlp.fc1.weight")
    let hasFcNorm = weights.contains("fc_norm.weight")
    let pool = options.globalPool ?? (hasFcNorm || !hasCls ? .avg : .token)
    if pool == .token && !hasCls {
      throw GraftError(
        .invalidModel, "token pooling needs a class token; expected shape [1, 1, \(d)]",
        tensor: weights.fullName("cls_token"))
    }
    var classes = 0
    if let h = weights.shape("head.weight") {
      guard h.count == 2, h[1] == d else {
        throw GraftError(
          .invalidModel, "has shape \(h); expected [num_classes, \(d)]", tensor: weights.fullName("head.weight"))
      }
      classes = h[0]
    }
    return Configuration(
      embedDim: d, depth: depth, heads: heads, mlpHidden: fc1?.first ?? 0, patchSize: [patch[2], patch[3]],
      imageSize: [gridSide * patch[2], gridSide * patch[3]], inChannels: patch[1], hasClassToken: hasCls,
      registerTokens: registers, noEmbedClass: noEmbedClass, globalPool: pool, numClasses: classes,
      layerNormEps: options.layerNormEps,
      activation: options.activation ?? metadata["activation"]?.stringValue.flatMap(Activation.init(rawValue:)) ?? .gelu
    )
  }

  /// Reads the number of heads from metadata keys `num_heads`, `heads` or `graft.vit.num_heads`.
  static func metadataHeads(_ metadata: JSONObject) -> Int? {
    for key in ["num_heads", "heads", "graft.vit.num_heads"] {
      guard let v = metadata[key] else { continue }
      if let i = v.intValue { return i }
      if let s = v.stringValue, let i = Int(s) { return i }
    }
    return nil
  }
}
