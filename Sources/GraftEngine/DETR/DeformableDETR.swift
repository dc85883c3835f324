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
    let fc1: Linear
    let fc2: Linear
    let norm0: LayerNorm
    let norm1: LayerNorm
  }

  struct DecoderLayer: Sendable {
    let inProjection: Linear
    let outProjection: Linear
    let selfNorm: LayerNorm
    let crossAttention: MultiScaleDeformableAttention
    let crossNorm: LayerNorm
    let fc1: Linear
    let fc2: Linear
    let ffnNorm: LayerNorm
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
    levelEmbeds = try w.floats("transformer.level_embeds", shape: [config.levels, d])
    var enc: [EncoderLayer] = []
    for l in 0..<config.encoderLayers {
      let p = "transformer.encoder.layers.\(l)."
      enc.append(
        EncoderLayer(
          attention: try MultiScaleDeformableAttention(
            w, prefix: p + "attentions.0.", width: d, heads: config.heads, levels: config.levels,
            points: config.encoderPoints),
          fc1: try linear(p + "ffns.0.layers.0.0.", d, config.encoderFFNDim),
          fc2: try linear(p + "ffns.0.layers.1.", config.encoderFFNDim, d),
          norm0: try norm(p + "norms.0."), norm1: try norm(p + "norms.1.")))
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
          fc1: try linear(p + config.decoderFC1, d, config.decoderFFNDim),
          fc2: try linear(p + config.decoderFC2, config.decoderFFNDim, d),
          ffnNorm: try norm(p + config.decoderFFNNorm)))
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
