public import GraftCore

/// The dimensions of a Mr.DETR model, which fix every primary-route tensor shape.
public struct MrDETRConfig: Sendable, Hashable {
  /// The model width (`embed_dim`).
  public var embedDim = 256
  /// The encoder FFN width.
  public var encoderFFNDim = 2048
  /// The decoder FFN width (also the width of `linear_sep`).
  public var decoderFFNDim = 2048
  /// Attention heads (not recoverable from shapes; 8 in every released config).
  public var heads = 8
  /// Feature levels.
  public var levels = 4
  /// Sampling points per head and level in the encoder.
  public var encoderPoints = 4
  /// Sampling points per head and level in the decoder.
  public var decoderPoints = 4
  /// Encoder layers.
  public var encoderLayers = 6
  /// Decoder layers.
  public var decoderLayers = 6
  /// Classes.
  public var classes = 80
  /// Object queries (and two-stage proposals).
  public var queries = 900
  /// Route-3 instruction tokens per decoder layer.
  public var instructionTokens = 10
  /// The backbone's output channels for res3, res4, res5 (what the neck maps from).
  public var backboneChannels = [512, 1024, 2048]

  /// Creates a configuration; the defaults are the R50 4-scale 900-query release.
  public init() {}

  /// The R50, 4-level, 900-query configuration of the released Deformable++ checkpoints.
  public static let r50 = MrDETRConfig()

  /// Reads the dimensions from a state dict's shapes; `heads` cannot be seen in shapes and is taken as given.
  ///
  /// - Throws: `invalidModel` naming the tensor whose shape is missing or inconsistent.
  public static func infer(from table: TensorTable, heads: Int = 8) throws(GraftError) -> MrDETRConfig {
    func shape(_ name: String, rank: Int) throws(GraftError) -> [Int] {
      try table.requiredShape(name, rank: rank, missingHint: "a Mr. DETR checkpoint has it")
    }
    var c = MrDETRConfig()
    c.heads = heads
    let q = try shape("query_embedding.weight", rank: 2)
    c.queries = q[0]
    c.embedDim = q[1]
    c.levels = try shape("transformer.level_embeds", rank: 2)[0]
    c.classes = try shape("class_embed.0.weight", rank: 2)[0]
    c.encoderLayers = table.indexedCount(prefix: "transformer.encoder.layers.")
    c.decoderLayers = table.indexedCount(prefix: "transformer.decoder.layers.")
    guard c.encoderLayers > 0, c.decoderLayers > 0 else {
      throw GraftError(
        .invalidModel, "expected transformer.encoder.layers.N.* and transformer.decoder.layers.N.* tensors",
        tensor: "transformer.decoder.layers.0")
    }
    c.encoderFFNDim = try shape("transformer.encoder.layers.0.ffns.0.layers.0.0.weight", rank: 2)[0]
    let decFFN = "transformer.decoder.layers.0.ffns.0.layers.0.linear.linear.weight"
    let decFFNCanonical = "transformer.decoder.layers.0.ffns.0.layers.0.0.weight"
    c.decoderFFNDim = try shape(table.contains(decFFN) ? decFFN : decFFNCanonical, rank: 2)[0]
    let perHeadLevel = heads * c.levels
    let encW = try shape("transformer.encoder.layers.0.attentions.0.attention_weights.weight", rank: 2)[0]
    let decW = try shape("transformer.decoder.layers.0.attentions.1.attention_weights.weight", rank: 2)[0]
    guard perHeadLevel > 0, encW % perHeadLevel == 0, decW % perHeadLevel == 0 else {
      throw GraftError(
        .invalidModel,
        "attention_weights has \(encW) (encoder) / \(decW) (decoder) outputs, not a multiple of heads × levels = "
          + "\(heads) × \(c.levels)", tensor: "transformer.encoder.layers.0.attentions.0.attention_weights.weight")
    }
    c.encoderPoints = encW / perHeadLevel
    c.decoderPoints = decW / perHeadLevel
    let instruction = "transformer.decoder.layers.0.attentions.0.instruction_o2m.weight"
    if let t = table[instruction], t.shape.count == 2 { c.instructionTokens = t.shape[0] }
    var channels: [Int] = []
    for i in 0..<3 {
      guard let t = table["neck.convs.\(i).conv.weight"], t.shape.count == 4 else { break }
      channels.append(t.shape[1])
    }
    if channels.count == 3 { c.backboneChannels = channels }
    return c
  }
}
