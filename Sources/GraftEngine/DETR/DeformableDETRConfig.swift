public import GraftCore

/// The shape and naming of a two-stage, box-refining Deformable-DETR transformer (Mr.DETR's primary route).
public struct DeformableDETRConfig: Sendable, Hashable {
  /// How the decoder layers' tensors are named.
  public enum Naming: String, Sendable, Hashable {
    /// Mr.DETR: `attentions.0.norm_o2o`, `ffns.0.layers.0.linear.linear`, `norms.{0,1}`.
    case mrdetr
    /// Stock detrex: `norms.{0,1,2}`, `ffns.0.layers.0.0`.
    case detrex
  }

  /// The model width.
  public var embedDim = 256
  /// Attention heads (self- and deformable attention).
  public var heads = 8
  /// Feature levels.
  public var levels = 4
  /// Encoder sampling points per head and level.
  public var encoderPoints = 4
  /// Decoder sampling points per head and level.
  public var decoderPoints = 4
  /// Encoder layers.
  public var encoderLayers = 6
  /// Decoder layers.
  public var decoderLayers = 6
  /// Encoder FFN width.
  public var encoderFFNDim = 2048
  /// Decoder FFN width.
  public var decoderFFNDim = 2048
  /// Classes.
  public var classes = 80
  /// Object queries, which is also the number of two-stage proposals.
  public var queries = 900
  /// Detections kept by the final top-k (`select_box_nums_for_evaluation`).
  public var detections = 300
  /// Whether the checkpoint carries DINO's `label_enc.weight` (expected by the manifest, unused at inference).
  public var hasLabelEncoder = false
  /// The decoder naming.
  public var naming: Naming = .mrdetr

  /// Creates the R50 900-query configuration.
  public init() {}

  /// Reads the dimensions from a state dict (heads are not visible in shapes and are taken as given).
  ///
  /// - Throws: `invalidModel` naming the tensor that is missing or misshapen.
  public static func infer(
    from table: TensorTable, heads: Int = 8, detections: Int = 300
  ) throws(GraftError)
    -> DeformableDETRConfig
  {
    var c = DeformableDETRConfig()
    c.heads = heads
    let q = try table.requiredShape("query_embedding.weight", rank: 2)
    c.queries = q[0]
    c.embedDim = q[1]
    c.levels = try table.requiredShape("transformer.level_embeds", rank: 2)[0]
    c.classes = try table.requiredShape("class_embed.0.weight", rank: 2)[0]
    c.encoderLayers = table.indexedCount(prefix: "transformer.encoder.layers.")
    c.decoderLayers = table.indexedCount(prefix: "transformer.decoder.layers.")
    c.naming = table.contains("transformer.decoder.layers.0.norms.2.weight") ? .detrex : .mrdetr
    c.encoderFFNDim = try table.requiredShape("transformer.encoder.layers.0.ffns.0.layers.0.0.weight", rank: 2)[0]
    c.decoderFFNDim = try table.requiredShape("transformer.decoder.layers.0." + c.decoderFC1 + "weight", rank: 2)[0]
    let hl = heads * c.levels
    let e = try table.requiredShape("transformer.encoder.layers.0.attentions.0.attention_weights.weight", rank: 2)[0]
    let d = try table.requiredShape("transformer.decoder.layers.0.attentions.1.attention_weights.weight", rank: 2)[0]
    guard hl > 0, e % hl == 0, d % hl == 0, c.embedDim % heads == 0 else {
      throw GraftError(
        .invalidModel, "attention_weights outputs \(e)/\(d) are not multiples of heads × levels = \(hl)",
        tensor: "transformer.encoder.layers.0.attentions.0.attention_weights.weight")
    }
    c.encoderPoints = e / hl
    c.decoderPoints = d / hl
    c.hasLabelEncoder = table.contains("label_enc.weight")
    c.detections = min(detections, c.queries * c.classes)
    return c
  }

  /// The decoder layer's post-self-attention norm prefix.
  var decoderSelfNorm: String { naming == .mrdetr ? "attentions.0.norm_o2o." : "norms.0." }
  /// The decoder layer's post-cross-attention norm prefix.
  var decoderCrossNorm: String { naming == .mrdetr ? "norms.0." : "norms.1." }
  /// The decoder layer's post-FFN norm prefix.
  var decoderFFNNorm: String { naming == .mrdetr ? "norms.1." : "norms.2." }
  /// The decoder FFN's first linear layer prefix.
  var decoderFC1: String { naming == .mrdetr ? "ffns.0.layers.0.linear.linear." : "ffns.0.layers.0.0." }
  /// The decoder FFN's second linear layer prefix.
  var decoderFC2: String { naming == .mrdetr ? "ffns.0.layers.1.linear." : "ffns.0.layers.1." }

  /// Every tensor the primary route reads, with its shape, plus the heads' decoder aliases and DINO's `label_enc`,
  /// which a strict PyTorch load also expects.
  public var manifest: [(name: String, shape: [Int])] {
    var out: [(name: String, shape: [Int])] = []
    let d = embedDim
    func linear(_ p: String, _ o: Int, _ i: Int) {
      out.append((p + "weight", [o, i]))
      out.append((p + "bias", [o]))
    }
    func norm(_ p: String, _ n: Int) {
      out.append((p + "weight", [n]))
      out.append((p + "bias", [n]))
    }
    func msda(_ p: String, _ points: Int) {
      linear(p + "sampling_offsets.", heads * levels * points * 2, d)
      linear(p + "attention_weights.", heads * levels * points, d)
      linear(p + "value_proj.", d, d)
      linear(p + "output_proj.", d, d)
    }
    out.append(("transformer.level_embeds", [levels, d]))
    for l in 0..<encoderLayers {
      let p = "transformer.encoder.layers.\(l)."
      msda(p + "attentions.0.", encoderPoints)
      linear(p + "ffns.0.layers.0.0.", encoderFFNDim, d)
      linear(p + "ffns.0.layers.1.", d, encoderFFNDim)
      norm(p + "norms.0.", d)
      norm(p + "norms.1.", d)
    }
    for l in 0..<decoderLayers {
      let p = "transformer.decoder.layers.\(l)."
      out.append((p + "attentions.0.attn.in_proj_weight", [3 * d, d]))
      out.append((p + "attentions.0.attn.in_proj_bias", [3 * d]))
      linear(p + "attentions.0.attn.out_proj.", d, d)
      norm(p + decoderSelfNorm, d)
      msda(p + "attentions.1.", decoderPoints)
      linear(p + decoderFC1, decoderFFNDim, d)
      linear(p + decoderFC2, d, decoderFFNDim)
      norm(p + decoderCrossNorm, d)
      norm(p + decoderFFNNorm, d)
    }
    linear("transformer.enc_output.", d, d)
    norm("transformer.enc_output_norm.", d)
    linear("transformer.pos_trans.", 2 * d, 2 * d)
    norm("transformer.pos_trans_norm.", 2 * d)
    for prefix in ["", "transformer.decoder."] {
      for i in 0...decoderLayers {
        linear(prefix + "class_embed.\(i).", classes, d)
        linear(prefix + "bbox_embed.\(i).layers.0.", d, d)
        linear(prefix + "bbox_embed.\(i).layers.1.", d, d)
        linear(prefix + "bbox_embed.\(i).layers.2.", 4, d)
      }
    }
    out.append(("query_embedding.weight", [queries, d]))
    if hasLabelEncoder { out.append(("label_enc.weight", [classes, d])) }
    return out
  }

  /// Name prefixes outside the transformer that this engine does not run (backbone, neck, mask head).
  public static let outOfScopePrefixes = [
    "backbone.", "neck.", "bbox_attention.", "mask_head.", "seg_input_proj.", "pixel_mean", "pixel_std",
  ]
}

/// The result of matching a state dict against ``DeformableDETRConfig/manifest``, as PyTorch's strict load reports.
public struct DeformableDETRManifestCheck: Sendable {
  /// Expected names that are absent.
  public var missing: [String]
  /// In-scope names that the manifest does not list.
  public var unexpected: [String]
  /// Names present with another shape.
  public var misshapen: [String]
  /// Names out of the engine's scope (backbone, neck, mask head), kept but not run.
  public var outOfScope: Int

  /// Whether the load is strict-clean.
  public var isStrictClean: Bool { missing.isEmpty && unexpected.isEmpty && misshapen.isEmpty }

  /// Matches `table` against `config`'s manifest.
  public init(_ table: TensorTable, config: DeformableDETRConfig) {
    let manifest = config.manifest
    let expected = Dictionary(manifest.map { ($0.name, $0.shape) }, uniquingKeysWith: { a, _ in a })
    missing = manifest.filter { !table.contains($0.name) }.map(\.name)
    misshapen = manifest.filter { entry in table[entry.name].map { $0.shape != entry.shape } ?? false }.map(\.name)
    var unexpected: [String] = []
    var outOfScope = 0
    for n in table.names where expected[n] == nil {
      if DeformableDETRConfig.outOfScopePrefixes.contains(where: { n.hasPrefix($0) }) {
        outOfScope += 1
      } else {
        unexpected.append(n)
      }
    }
    self.unexpected = unexpected
    self.outOfScope = outOfScope
  }
}
