public import GraftCore

/// timm's `VisionTransformer`, built from a checkpoint's tensors and run on the CPU in Float32.
///
/// The configuration (width, depth, patch and image size, class and register tokens, pooling, head) is inferred
/// from tensor names and shapes; see ``Configuration``. Keys may carry a `module.`, `model.`, `base.` or
/// `backbone.` prefix. Weights stored as F16, BF16 or F64 are upcast once here.
public struct VisionTransformer: ForwardModel {
  /// The inferred hyperparameters.
  public let configuration: Configuration
  /// The key prefix found in the checkpoint.
  public let keyPrefix: String
  let patchEmbed: Conv2d
  let classToken: [Float]?
  let registerTokens: [Float]?
  let positions: [Float]
  let preNorm: LayerNorm?
  /// The encoder blocks.
  public let blocks: [TransformerBlock]
  let finalNorm: LayerNorm?
  let fcNorm: LayerNorm?
  let head: Linear?

  /// Builds the model.
  ///
  /// - Throws: `invalidModel` naming the tensor and the expected shape when the checkpoint is not a ViT, a tensor is
  ///   missing or misshapen, the heads do not divide the width, or a weight holds NaN or infinity.
  public init(_ table: TensorTable, options: Options = Options()) throws(GraftError) {
    let prefix = try Self.detectPrefix(table)
    let weights = WeightLoader(table: table, prefix: prefix)
    let config = try Self.inferConfiguration(weights, metadata: table.metadata, options: options)
    configuration = config
    keyPrefix = prefix
    let d = config.embedDim
    let eps = config.layerNormEps
    patchEmbed = try Conv2d(weights, prefix: "patch_embed.proj.")
    classToken = config.hasClassToken ? try weights.floats("cls_token", shape: [1, 1, d]) : nil
    registerTokens =
      config.registerTokens > 0 ? try weights.floats("reg_token", shape: [1, config.registerTokens, d]) : nil
    let posTokens = config.noEmbedClass ? config.tokens - config.prefixTokens : config.tokens
    positions = try weights.floats("pos_embed", shape: [1, posTokens, d])
    preNorm =
      weights.contains("norm_pre.weight") ? try LayerNorm(weights, prefix: "norm_pre.", width: d, eps: eps) : nil
    var blocks: [TransformerBlock] = []
    for i in 0..<config.depth {
      blocks.append(
        try TransformerBlock(
          weights, prefix: "blocks.\(i).", width: d, heads: config.heads, eps: eps, activation: config.activation,
          feedForwardBuilders: options.feedForwardBuilders + MoEBuilders.all() + [DenseMLPBuilder()]))
    }
    self.blocks = blocks
    finalNorm = weights.contains("norm.weight") ? try LayerNorm(weights, prefix: "norm.", width: d, eps: eps) : nil
    fcNorm = weights.contains("fc_norm.weight") ? try LayerNorm(weights, prefix: "fc_norm.", width: d, eps: eps) : nil
    head = config.numClasses > 0 ? try Linear(weights, prefix: "head.", inFeatures: d, outFeatures: nil) : nil
    if weights.contains("attn_pool.latent") {
      throw GraftError(
        .unsupported, "attention pooling (global_pool='map') is not implemented",
        tensor: weights.fullName("attn_pool.latent"))
    }
  }

  /// The input sample shape `[C, H, W]`.
  public var sampleShape: [Int] { [configuration.inChannels] + configuration.imageSize }

  /// The configuration as JSON.
  public var configurationJSON: JSONValue { configuration.json }

  /// Runs images `[N, C, H, W]` (or one image `[C, H, W]`).
  ///
  /// - Throws: `invalidArgument` when the input shape differs from `[N] + sampleShape`, or the input holds NaN or
  ///   infinity.
  public func forward(_ images: FloatTensor, hiddenStates: Bool = false) throws(GraftError) -> ForwardOutputs {
    let c = configuration
    var shape = images.shape
    if shape.count == 3 { shape.insert(1, at: 0) }
    guard shape.count == 4, Array(shape.dropFirst()) == sampleShape, shape[0] > 0 else {
      throw GraftError(
        .invalidArgument,
        "input has shape \(images.shape); the model expects [N, \(sampleShape.map(String.init).joined(separator: ", "))]"
      )
    }
    if let bad = images.values.firstIndex(where: { !$0.isFinite }) {
      throw GraftError(.invalidArgument, "input value at flat index \(bad) is \(images.values[bad])")
    }
    let n = shape[0]
    let d = c.embedDim
    let t = c.tokens
    let grid = c.grid[0] * c.grid[1]
    var x = [Float](repeating: 0, count: n * t * d)
    var captured: [FloatTensor] = []
    x.withUnsafeMutableBufferPointer { xb in
      guard let xp = xb.baseAddress else { return }
      embed(images.values, batch: n, into: xp)
      if let preNorm { preNorm.apply(xp, rows: n * t, into: xp) }
      for block in blocks {
        block.apply(xp, batch: n, tokens: t)
        if hiddenStates {
          captured.append(
            FloatTensor(unchecked: [n, t, d], values: Array(UnsafeBufferPointer(start: xp, count: n * t * d))))
        }
      }
      if let finalNorm { finalNorm.apply(xp, rows: n * t, into: xp) }
    }
    var pooled = [Float](repeating: 0, count: n * d)
    for b in 0..<n {
      let seq = b * t * d
      switch c.globalPool {
      case .token:
        for j in 0..<d { pooled[b * d + j] = x[seq + j] }
      case .avg:
        // Column sums in Double: up to hundreds of tokens, and the mean is the pooled output itself.
        var acc = [Double](repeating: 0, count: d)
        for r in c.prefixTokens..<t {
          for j in 0..<d { acc[j] += Double(x[seq + r * d + j]) }
        }
        for j in 0..<d { pooled[b * d + j] = Float(acc[j] / Double(grid)) }
      case .max:
        for j in 0..<d {
          var m = -Float.infinity
          for r in c.prefixTokens..<t { m = Swift.max(m, x[seq + r * d + j]) }
          pooled[b * d + j] = m
        }
      }
    }
    var features = FloatTensor(unchecked: [n, d], values: pooled)
    if let fcNorm { features = try fcNorm.forward(features) }
    let output = try head?.forward(features) ?? features
    return ForwardOutputs(output: output, pooled: features, hiddenStates: captured)
  }

  /// Writes the token sequence: prefix tokens, patch embeddings, position embeddings (timm `_pos_embed`).
  private func embed(_ images: [Float], batch n: Int, into x: UnsafeMutablePointer<Float>) {
    let c = configuration
    let d = c.embedDim
    let t = c.tokens
    let p = c.prefixTokens
    let grid = c.grid[0] * c.grid[1]
    var patches = images.withUnsafeBufferPointer { ib in
      uninitializedFloats(n * grid * d) { out in
        patchEmbed.applyChannelsLast(
          ib.baseAddress.unsafelyUnwrapped, batch: n, height: c.imageSize[0], width: c.imageSize[1], into: out)
      }
    }
    patches.withUnsafeMutableBufferPointer { pb in
      guard let pp = pb.baseAddress else { return }
      for b in 0..<n {
        let seq = x + b * t * d
        if let classToken { seq.update(from: classToken, count: d) }
        if let registerTokens {
          (seq + (c.hasClassToken ? d : 0)).update(from: registerTokens, count: c.registerTokens * d)
        }
        (seq + p * d).update(from: pp + b * grid * d, count: grid * d)
        positions.withUnsafeBufferPointer { pos in
          guard let posp = pos.baseAddress else { return }
          if c.noEmbedClass {
            RowKernels.addInPlace(seq + p * d, posp, count: grid * d)
          } else {
            RowKernels.addInPlace(seq, posp, count: t * d)
          }
        }
      }
    }
  }
}
