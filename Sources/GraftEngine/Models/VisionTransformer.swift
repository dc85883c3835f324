public import GraftCore

/// timm's `VisionTransformer` (and distilled DeiT), built from a checkpoint's tensors and run on the CPU in Float32.
///
/// The configuration comes from explicit options, then the checkpoint's metadata, then tensor names and shapes;
/// a value none of them determines is an error naming the option that resolves it (or, with
/// ``Options/assumeDefaults``, a guess reported as assumed). See ``Configuration``. Every tensor must be read by the
/// model unless ``Options/ignoreUnused``. Keys may carry a `module.`, `model.`, `base.` or `backbone.` prefix.
/// Weights stored as F16, BF16 or F64 are upcast once here.
public struct VisionTransformer: ForwardModel {
  /// The resolved hyperparameters, each with its source.
  public let configuration: Configuration
  /// The key prefix found in the checkpoint.
  public let keyPrefix: String
  let patchEmbed: Conv2d
  let embedNorm: Norm?
  let classToken: [Float]?
  let distillationToken: [Float]?
  let registerTokens: [Float]?
  /// The position embeddings at the input size (`[positions × width]`), when the model has them.
  let positions: [Float]?
  let preNorm: Norm?
  /// The encoder blocks.
  public let blocks: [TransformerBlock]
  let finalNorm: Norm?
  let fcNorm: Norm?
  let attentionPool: AttentionPool?
  let head: Linear?
  let distillationHead: Linear?

  /// Wrapper prefixes that training frameworks put in front of every key.
  public static let acceptedPrefixes = ["module.", "model.", "base.", "backbone."]

  /// Builds the model.
  ///
  /// - Throws: `invalidModel` naming the tensor and the expected shape when the checkpoint is not a ViT, a tensor is
  ///   missing or misshapen, a value is undetermined (naming its option), tensors are left unused, or a weight holds
  ///   NaN or infinity; `unsupported` naming a ViT feature the engine does not implement.
  public init(_ table: TensorTable, options: Options = Options()) throws(GraftError) {
    let prefix = try Self.detectPrefix(table)
    let usage = TensorUsage()
    let weights = WeightLoader(table: table, prefix: prefix, usage: usage, packing: options.weightPacking)
    var config = try Self.resolveConfiguration(weights, metadata: table.metadata, options: options)
    keyPrefix = prefix
    let d = config.embedDim.value
    let eps = config.normEps.value
    let kind = config.normKind.value
    func norm(_ name: String) throws(GraftError) -> Norm? {
      weights.contains(name + "weight") ? try Norm(weights, prefix: name, width: d, kind: kind, eps: eps) : nil
    }
    patchEmbed = try Conv2d(weights, prefix: "patch_embed.proj.")
    embedNorm = try norm("patch_embed.norm.")
    classToken = config.hasClassToken.value ? try weights.floats("cls_token", shape: [1, 1, d]) : nil
    distillationToken = config.distilled.value ? try weights.floats("dist_token", shape: [1, 1, d]) : nil
    let registers = config.registerTokens.value
    registerTokens = registers > 0 ? try weights.floats("reg_token", shape: [1, registers, d]) : nil
    positions = try Self.loadPositions(weights, config, antialias: options.resampleAntialias)
    preNorm = try norm("norm_pre.")
    let hiddenNorm = HiddenNormSpec(kind: kind, eps: eps)
    let packed = MLPKind(rawValue: config.mlpKind.value)
    let builders =
      options.feedForwardBuilders + MoEBuilders.all()
      + [GatedMLPBuilder(packedKind: packed, hiddenNorm: hiddenNorm), DenseMLPBuilder(hiddenNorm: hiddenNorm)]
    var blocks: [TransformerBlock] = []
    for i in 0..<config.depth.value {
      blocks.append(
        try TransformerBlock(
          weights, prefix: "blocks.\(i).", width: d, heads: config.heads.value, eps: eps, normKind: kind,
          activation: config.activation.value, feedForwardBuilders: builders))
    }
    self.blocks = blocks
    finalNorm = try norm("norm.")
    fcNorm = try norm("fc_norm.")
    attentionPool =
      config.globalPool.value == .map
      ? try AttentionPool(
        weights, prefix: "attn_pool.", width: d, heads: config.heads.value, normKind: kind, eps: eps,
        activation: config.activation.value) : nil
    if let pool = attentionPool, let count = pool.positionCount {
      let expected = config.grid[0] * config.grid[1] + (config.poolIncludePrefix.value ? config.prefixTokens : 0)
      guard count == expected else {
        throw GraftError(
          .invalidModel, "has \(count) positions; the pooled sequence has \(expected) tokens",
          tensor: weights.fullName("attn_pool.pos_embed"))
      }
    }
    let classes = config.numClasses.value
    head = classes > 0 ? try Linear(weights, prefix: "head.", inFeatures: d, outFeatures: classes) : nil
    distillationHead =
      classes > 0 && config.distilled.value
      ? try Linear(weights, prefix: "head_dist.", inFeatures: d, outFeatures: classes) : nil
    let unused = usage.unread(in: table)
    if !unused.isEmpty && !options.ignoreUnused {
      throw GraftError(
        .invalidModel,
        "\(unused.count) tensor\(unused.count == 1 ? " is" : "s are") not used by the ViT the engine built (an "
          + "unsupported variant?): " + unused.prefix(12).joined(separator: ", ") + (unused.count > 12 ? ", …" : "")
          + "; pass ignoreUnused to run without them", tensor: unused[0]
      ).resolved(by: "ignoreUnused")
    }
    config.unusedTensors = unused
    configuration = config
  }

  /// Resolves the configuration without building the model (no weights decoded, unused tensors not checked): what a
  /// report prints before the engine runs.
  ///
  /// - Throws: as ``init(_:options:)`` for everything but missing, misshapen, non-finite or unused tensors.
  public static func configuration(
    of table: TensorTable, options: Options = Options()
  ) throws(GraftError)
    -> Configuration
  {
    let weights = WeightLoader(table: table, prefix: try detectPrefix(table))
    return try resolveConfiguration(weights, metadata: table.metadata, options: options)
  }

  /// The position embeddings, resampled from the checkpoint's grid to the input's when they differ.
  static func loadPositions(
    _ weights: WeightLoader, _ c: Configuration, antialias: Bool
  ) throws(GraftError) -> [Float]? {
    guard c.hasPositionEmbedding.value else { return nil }
    let d = c.embedDim.value
    let old = [c.imageSize.value[0] / c.patchSize.value[0], c.imageSize.value[1] / c.patchSize.value[1]]
    let kept = c.noEmbedClass.value ? 0 : c.prefixTokens
    let stored = try weights.floats("pos_embed", shape: [1, kept + old[0] * old[1], d])
    guard old != c.grid else { return stored }
    let grid = PositionEmbeddingResampling.resample(
      Array(stored[(kept * d)...]), from: old, to: c.grid, dim: d, antialias: antialias)
    return Array(stored[0..<(kept * d)]) + grid
  }

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

  /// The input sample shape `[C, H, W]`.
  public var sampleShape: [Int] { [configuration.inChannels.value] + configuration.inputSize.value }

  /// The configuration as JSON: each value with its source.
  public var configurationJSON: JSONValue { configuration.json }

  /// The configuration as `name = value (source)` lines.
  public var configurationLines: [String] { configuration.lines }
}
