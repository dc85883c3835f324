public import GraftCore

/// Mr.DETR's primary route at inference: the two-stage, box-refining Deformable-DETR transformer and heads, run
/// from the neck's multi-scale feature maps (batch 1, no padding).
///
/// The forward follows detrex `DeformableDetrTransformer` with H-DETR's mixed selection and look-forward-twice, and
/// Mr.DETR's eval-only score fusion across decoder layers. Weights load through a strict manifest
/// (``DeformableDETRConfig/manifest``): every expected tensor must exist with its shape, and unexpected in-scope
/// tensors are refused unless `strict` is off.
public struct DeformableDETR: Sendable {
  /// The configuration.
  public let config: DeformableDETRConfig
  /// How the checkpoint matched the manifest.
  public let manifestCheck: DeformableDETRManifestCheck
  let levelEmbeds: [Float]
  let encoder: [EncoderLayer]
  let decoder: [DecoderLayer]
  let encOutput: Linear
  let encOutputNorm: LayerNorm
  let posTrans: Linear
  let posTransNorm: LayerNorm
  let classHeads: [Linear]
  let boxHeads: [BoxHead]
  let queryEmbedding: [Float]

  struct EncoderLayer: Sendable {
    let attention: MultiScaleDeformableAttention
    let attentionNorm: LayerNorm
    let feedForward: FeedForward
  }

  struct DecoderLayer: Sendable {
    let inProjection: Linear
    let outProjection: Linear
    let selfNorm: LayerNorm
    let crossAttention: MultiScaleDeformableAttention
    let crossNorm: LayerNorm
    let feedForward: FeedForward
  }

  /// The post-norm FFN sublayer both stacks end with: `norm(x + fc2(relu(fc1(x))))`.
  struct FeedForward: Sendable {
    let fc1: Linear
    let fc2: Linear
    let norm: LayerNorm

    func forward(_ x: FloatTensor) throws(GraftError) -> FloatTensor {
      var hidden = try fc1.forward(x)
      hidden.values = hidden.values.map { max($0, 0) }
      return try norm.forward(DeformableDETR.add(x, fc2.forward(hidden)))
    }
  }

  struct BoxHead: Sendable {
    let layers: [Linear]
    func forward(_ x: FloatTensor) throws(GraftError) -> FloatTensor {
      var h = x
      for (i, l) in layers.enumerated() {
        h = try l.forward(h)
        if i < layers.count - 1 { h.values = h.values.map { max($0, 0) } }
      }
      return h
    }
  }

  /// Builds the model from a state dict.
  ///
  /// - Throws: `invalidModel` naming the first missing or misshapen tensor, or (when `strict`) listing unexpected
  ///   in-scope tensors such as auxiliary-route weights.
  public init(_ table: TensorTable, config: DeformableDETRConfig, strict: Bool = true) throws(GraftError) {
    self.config = config
    let check = DeformableDETRManifestCheck(table, config: config)
    manifestCheck = check
    if let m = check.missing.first {
      throw GraftError(
        .invalidModel, "missing tensor (\(check.missing.count) of the primary-route manifest are missing)", tensor: m)
    }
    if let m = check.misshapen.first {
      let shape = config.manifest.first { $0.name == m }?.shape ?? []
      throw GraftError(.invalidModel, "has shape \(table[m]?.shape ?? []); expected \(shape)", tensor: m)
    }
    if strict, let u = check.unexpected.first {
      throw GraftError(
        .invalidModel,
        "unexpected tensor for a strict primary-route load (\(check.unexpected.count) unexpected: "
          + check.unexpected.prefix(4).joined(separator: ", ") + (check.unexpected.count > 4 ? ", …)" : ")"),
        tensor: u)
    }
    let w = WeightLoader(table: table)
    let d = config.embedDim
    func norm(_ p: String) throws(GraftError) -> LayerNorm { try LayerNorm(w, prefix: p, width: d, eps: 1e-5) }
    func linear(_ p: String, _ i: Int, _ o: Int) throws(GraftError) -> Linear {
      try Linear(w, prefix: p, inFeatures: i, outFeatures: o, requireBias: true)
    }
    func feedForward(
      _ p: String, width: Int, fc1: String, fc2: String, norm n: String
    ) throws(GraftError) -> FeedForward {
      FeedForward(fc1: try linear(p + fc1, d, width), fc2: try linear(p + fc2, width, d), norm: try norm(p + n))
    }
    levelEmbeds = try w.floats("transformer.level_embeds", shape: [config.levels, d])
    var enc: [EncoderLayer] = []
    for l in 0..<config.encoderLayers {
      let p = "transformer.encoder.layers.\(l)."
      enc.append(
        EncoderLayer(
          attention: try MultiScaleDeformableAttention(
            w, prefix: p + "attentions.0.", width: d, heads: config.heads, levels: config.levels,
            points: config.encoderPoints),
          attentionNorm: try norm(p + "norms.0."),
          feedForward: try feedForward(
            p, width: config.encoderFFNDim, fc1: "ffns.0.layers.0.0.", fc2: "ffns.0.layers.1.", norm: "norms.1.")))
    }
    encoder = enc
    var dec: [DecoderLayer] = []
    for l in 0..<config.decoderLayers {
      let p = "transformer.decoder.layers.\(l)."
      dec.append(
        DecoderLayer(
          inProjection: try Linear(
            w, prefix: p + "attentions.0.attn.", inFeatures: d, outFeatures: 3 * d, requireBias: true,
            weightName: "in_proj_weight", biasName: "in_proj_bias"),
          outProjection: try linear(p + "attentions.0.attn.out_proj.", d, d),
          selfNorm: try norm(p + config.decoderSelfNorm),
          crossAttention: try MultiScaleDeformableAttention(
            w, prefix: p + "attentions.1.", width: d, heads: config.heads, levels: config.levels,
            points: config.decoderPoints),
          crossNorm: try norm(p + config.decoderCrossNorm),
          feedForward: try feedForward(
            p, width: config.decoderFFNDim, fc1: config.decoderFC1, fc2: config.decoderFC2,
            norm: config.decoderFFNNorm)))
    }
    decoder = dec
    encOutput = try linear("transformer.enc_output.", d, d)
    encOutputNorm = try norm("transformer.enc_output_norm.")
    posTrans = try linear("transformer.pos_trans.", 2 * d, 2 * d)
    posTransNorm = try LayerNorm(w, prefix: "transformer.pos_trans_norm.", width: 2 * d, eps: 1e-5)
    var classes: [Linear] = []
    var boxes: [BoxHead] = []
    for i in 0...config.decoderLayers {
      classes.append(try linear("class_embed.\(i).", d, config.classes))
      boxes.append(
        BoxHead(layers: [
          try linear("bbox_embed.\(i).layers.0.", d, d), try linear("bbox_embed.\(i).layers.1.", d, d),
          try linear("bbox_embed.\(i).layers.2.", d, 4),
        ]))
    }
    classHeads = classes
    boxHeads = boxes
    queryEmbedding = try w.floats("query_embedding.weight", shape: [config.queries, d])
  }
}
