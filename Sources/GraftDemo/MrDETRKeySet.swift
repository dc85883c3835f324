public import Graft

/// The dimensions of a synthetic Mr.DETR model: the engine's transformer configuration, plus the route-3
/// instruction tokens (training-only) and the backbone channels the neck maps from, which the engine does not run.
public struct MrDETRConfig: Sendable, Hashable {
  /// The transformer and heads.
  ///
  /// Its decoder naming and label encoder are not read: the key set's layout and variant decide them.
  public var transformer = DeformableDETRConfig()
  /// Route-3 instruction tokens per decoder layer.
  public var instructionTokens = 10
  /// The backbone's output channels for res3, res4, res5 (what the neck maps from).
  public var backboneChannels = [512, 1024, 2048]

  /// Creates a configuration; the defaults are the R50 4-scale 900-query release.
  public init() {}

  /// The R50, 4-level, 900-query configuration of the released Deformable++ checkpoints.
  public static let r50 = MrDETRConfig()
}

/// Every tensor name and shape of a Mr.DETR checkpoint for a configuration, in PyTorch `state_dict` order.
///
/// This is the primary-route key manifest (what a strict loader expects after stripping) and, with the auxiliary
/// keys included, the full training key set that synthetic fixtures are built from. It is written independently of
/// the engine's ``DeformableDETRConfig/manifest``, which the fixtures built from it test.
public struct MrDETRKeySet: Sendable {
  /// What a key is for.
  public enum Kind: Sendable, Hashable {
    /// Read by the primary route's transformer and heads (the engine's strict manifest).
    case primary
    /// Backbone, neck or mask head: kept, matched by prefix, not run by the verifying engine.
    case shared
    /// Training-only, on the given route.
    case auxiliary(MrDETRRoute)
    /// The CDN label embedding (DINO/Align), training-only but kept unless asked.
    case labelEncoder
  }

  /// One key.
  public struct Key: Sendable, Hashable {
    /// The full name.
    public var name: String
    /// The shape.
    public var shape: [Int]
    /// What it is for.
    public var kind: Kind
    /// For the heads' decoder aliases: the key whose storage it shares.
    public var aliasOf: String?
  }

  /// The keys in order.
  public private(set) var keys: [Key] = []

  /// Builds the key set.
  ///
  /// - Parameters:
  ///   - backbone: include a d2 ResNet-50 backbone and the ChannelMapper neck (full-size fixtures); without it only
  ///     the neck is listed.
  ///   - layout: the decoder naming to produce (the detrex layout has no auxiliary keys).
  public init(
    config c: MrDETRConfig, variant: MrDETRVariant, includeAuxiliary: Bool = true, resNet50Backbone: Bool = false,
    layout: MrDETRLayout = .mrdetr
  ) {
    let t = c.transformer
    let d = t.embedDim
    func add(_ name: String, _ shape: [Int], _ kind: Kind = .primary, alias: String? = nil) {
      keys.append(Key(name: name, shape: shape, kind: kind, aliasOf: alias))
    }
    func linear(_ p: String, _ out: Int, _ inp: Int, _ kind: Kind = .primary) {
      add(p + ".weight", [out, inp], kind)
      add(p + ".bias", [out], kind)
    }
    func norm(_ p: String, _ n: Int, _ kind: Kind = .primary) {
      add(p + ".weight", [n], kind)
      add(p + ".bias", [n], kind)
    }
    func msda(_ p: String, points: Int) {
      linear(p + ".sampling_offsets", t.heads * t.levels * points * 2, d)
      linear(p + ".attention_weights", t.heads * t.levels * points, d)
      linear(p + ".value_proj", d, d)
      linear(p + ".output_proj", d, d)
    }
    func mlp(_ p: String, _ kind: Kind = .primary) {
      linear(p + ".layers.0", d, d, kind)
      linear(p + ".layers.1", d, d, kind)
      linear(p + ".layers.2", 4, d, kind)
    }
    if resNet50Backbone { Self.addResNet50(&keys) }
    for (i, ch) in c.backboneChannels.enumerated() {
      add("neck.convs.\(i).conv.weight", [d, ch, 1, 1], .shared)
      add("neck.convs.\(i).conv.bias", [d], .shared)
      norm("neck.convs.\(i).norm", d, .shared)
    }
    for i in 0..<max(0, t.levels - c.backboneChannels.count) {
      add("neck.extra_convs.\(i).conv.weight", [d, i == 0 ? c.backboneChannels.last ?? d : d, 3, 3], .shared)
      add("neck.extra_convs.\(i).conv.bias", [d], .shared)
      norm("neck.extra_convs.\(i).norm", d, .shared)
    }
    add("transformer.level_embeds", [t.levels, d])
    for l in 0..<t.encoderLayers {
      let p = "transformer.encoder.layers.\(l)."
      msda(p + "attentions.0", points: t.encoderPoints)
      linear(p + "ffns.0.layers.0.0", t.encoderFFNDim, d)
      linear(p + "ffns.0.layers.1", d, t.encoderFFNDim)
      norm(p + "norms.0", d)
      norm(p + "norms.1", d)
    }
    let route3: Kind = .auxiliary(.route3InstructiveAttention)
    let route1: Kind = .auxiliary(.route1IndependentFFN)
    for l in 0..<t.decoderLayers {
      let p = "transformer.decoder.layers.\(l)."
      add(p + "attentions.0.attn.in_proj_weight", [3 * d, d])
      add(p + "attentions.0.attn.in_proj_bias", [3 * d])
      linear(p + "attentions.0.attn.out_proj", d, d)
      switch layout {
      case .mrdetr:
        norm(p + "attentions.0.norm_o2o", d)
        if includeAuxiliary {
          norm(p + "attentions.0.norm_o2m", d, route3)
          add(p + "attentions.0.instruction_o2m.weight", [c.instructionTokens, d], route3)
          add(p + "attentions.0.instruction_o2m_pos.weight", [c.instructionTokens, d], route3)
        }
        msda(p + "attentions.1", points: t.decoderPoints)
        linear(p + "ffns.0.layers.0.linear.linear", t.decoderFFNDim, d)
        if includeAuxiliary { linear(p + "ffns.0.layers.0.linear.linear_sep", t.decoderFFNDim, d, route1) }
        linear(p + "ffns.0.layers.1.linear", d, t.decoderFFNDim)
        if includeAuxiliary { linear(p + "ffns.0.layers.1.linear_sep", d, t.decoderFFNDim, route1) }
        norm(p + "norms.0", d)
        norm(p + "norms.1", d)
      case .detrex:
        msda(p + "attentions.1", points: t.decoderPoints)
        linear(p + "ffns.0.layers.0.0", t.decoderFFNDim, d)
        linear(p + "ffns.0.layers.1", d, t.decoderFFNDim)
        norm(p + "norms.0", d)
        norm(p + "norms.1", d)
        norm(p + "norms.2", d)
      }
    }
    // The heads are stored under the decoder first: `transformer` registers before the top-level heads, so
    // PyTorch's state_dict meets the shared modules there first and the top-level names are the aliases.
    for i in 0...t.decoderLayers { linear("transformer.decoder.class_embed.\(i)", t.classes, d) }
    for i in 0...t.decoderLayers { mlp("transformer.decoder.bbox_embed.\(i)") }
    if includeAuxiliary && layout == .mrdetr {
      linear("transformer.decoder.class_embed_o2m_encoder", t.classes, d, .auxiliary(.route3Proposals))
      mlp("transformer.decoder.bbox_embed_enc_o2m", .auxiliary(.route3Proposals))
    }
    linear("transformer.enc_output", d, d)
    norm("transformer.enc_output_norm", d)
    linear("transformer.pos_trans", 2 * d, 2 * d)
    norm("transformer.pos_trans_norm", 2 * d)
    let decoderHeads = keys.filter {
      $0.name.hasPrefix("transformer.decoder.class_embed.") || $0.name.hasPrefix("transformer.decoder.bbox_embed.")
    }
    for k in decoderHeads {
      add(String(k.name.dropFirst("transformer.decoder.".count)), k.shape, .primary, alias: k.name)
    }
    add("query_embedding.weight", [t.queries, d])
    if variant.hasLabelEncoder && includeAuxiliary { add("label_enc.weight", [t.classes, d], .labelEncoder) }
    if variant == .insseg {
      let heads = t.heads
      linear("bbox_attention.q_linear", d, d, .shared)
      linear("bbox_attention.k_linear", d, d, .shared)
      let dim = d + heads
      let inter = [dim, d / 2, d / 4, d / 8, d / 16]
      var previous = dim
      for (i, w) in inter.enumerated() {
        add("mask_head.lay\(i + 1).weight", [w, previous, 3, 3], .shared)
        add("mask_head.lay\(i + 1).bias", [w], .shared)
        norm("mask_head.gn\(i + 1)", w, .shared)
        previous = w
      }
      add("mask_head.out_lay.weight", [1, previous, 3, 3], .shared)
      add("mask_head.out_lay.bias", [1], .shared)
      for (i, ch) in c.backboneChannels.reversed().enumerated() {
        add("mask_head.adapter\(i + 1).weight", [inter[i + 1], d, 1, 1], .shared)
        add("mask_head.adapter\(i + 1).bias", [inter[i + 1]], .shared)
        add("seg_input_proj.\(i).weight", [d, ch, 1, 1], .shared)
        add("seg_input_proj.\(i).bias", [d], .shared)
      }
    }
  }

  /// The keys a strict primary-route loader expects (transformer, heads and their aliases).
  public var primaryKeys: [Key] { keys.filter { $0.kind == .primary } }

  /// The auxiliary-route keys.
  public var auxiliaryKeys: [Key] {
    keys.filter {
      if case .auxiliary = $0.kind { return true }
      return false
    }
  }

  /// The number of values in keys matching `predicate`, aliases counted once.
  public func parameterCount(where predicate: (Key) -> Bool) -> Int {
    keys.filter { $0.aliasOf == nil && predicate($0) }.reduce(0) { $0 + (Checked.product($1.shape) ?? 0) }
  }

  private static func addResNet50(_ keys: inout [Key]) {
    func conv(_ p: String, _ out: Int, _ inp: Int, _ k: Int) {
      keys.append(Key(name: p + ".weight", shape: [out, inp, k, k], kind: .shared))
      for s in ["weight", "bias", "running_mean", "running_var"] {
        keys.append(Key(name: p + ".norm." + s, shape: [out], kind: .shared))
      }
    }
    conv("backbone.stem.conv1", 64, 3, 7)
    var inChannels = 64
    for (stage, (blocks, width)) in [(3, 64), (4, 128), (6, 256), (3, 512)].enumerated() {
      let out = width * 4
      for b in 0..<blocks {
        let p = "backbone.res\(stage + 2).\(b)"
        if b == 0 { conv(p + ".shortcut", out, inChannels, 1) }
        conv(p + ".conv1", width, b == 0 ? inChannels : out, 1)
        conv(p + ".conv2", width, width, 3)
        conv(p + ".conv3", out, width, 1)
      }
      inChannels = out
    }
  }
}
