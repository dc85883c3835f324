public import GraftCore

/// The explicit REMOVE / KEEP lists for one Mr.DETR variant (reference: `mrdetr.md` §4).
///
/// Every tensor of a checkpoint must fall in exactly one list; anything else is reported as unknown rather than
/// silently kept or dropped. The lists are written per key, never as an `o2o|o2m` regular expression, because the
/// primary route's post-self-attention norm is `norm_o2o`.
public struct MrDETRManifest: Sendable {
  /// One REMOVE rule.
  public struct RemoveRule: Sendable, Hashable {
    /// The names it matches.
    public var pattern: MrDETRKeyPattern
    /// The route the tensors serve.
    public var route: MrDETRRoute
  }

  /// One KEEP rule.
  public struct KeepRule: Sendable, Hashable {
    /// The names it matches.
    public var pattern: MrDETRKeyPattern
    /// A short group label for reports (`backbone`, `decoder primary self-attention`, …).
    public var group: String
  }

  /// How a name is classified.
  public enum Classification: Sendable, Hashable {
    /// A training-only tensor of `route`.
    case remove(MrDETRRoute)
    /// A primary-route (or shared) tensor.
    case keep(group: String)
    /// In neither list.
    case unknown
  }

  /// The variant.
  public let variant: MrDETRVariant
  /// Whether `label_enc.weight` is removed (DINO/Align with `--drop-label-enc`) or kept.
  public let dropsLabelEncoder: Bool
  /// The REMOVE list.
  public let remove: [RemoveRule]
  /// The KEEP list.
  public let keep: [KeepRule]

  /// Builds the lists for a variant.
  public init(variant: MrDETRVariant, dropLabelEncoder: Bool = false) {
    self.variant = variant
    dropsLabelEncoder = dropLabelEncoder && variant.hasLabelEncoder
    let layer = "transformer.decoder.layers.#."
    var remove: [RemoveRule] = [
      .init(pattern: .init(layer + "attentions.0.instruction_o2m.weight"), route: .route3InstructiveAttention),
      .init(pattern: .init(layer + "attentions.0.instruction_o2m_pos.weight"), route: .route3InstructiveAttention),
      .init(pattern: .init(layer + "attentions.0.norm_o2m.*"), route: .route3InstructiveAttention),
      .init(pattern: .init(layer + "ffns.0.layers.0.linear.linear_sep.*"), route: .route1IndependentFFN),
      .init(pattern: .init(layer + "ffns.0.layers.1.linear_sep.*"), route: .route1IndependentFFN),
      .init(pattern: .init("transformer.decoder.class_embed_o2m_encoder.*"), route: .route3Proposals),
      .init(pattern: .init("transformer.decoder.bbox_embed_enc_o2m.layers.#.*"), route: .route3Proposals),
      .init(pattern: .init(layer + "attentions.0.instruction_o2o.weight"), route: .defensive),
      .init(pattern: .init(layer + "attentions.0.instruction_o2o_pos.weight"), route: .defensive),
      .init(pattern: .init("transformer.decoder.class_embed_sep_encoder.*"), route: .defensive),
      .init(pattern: .init("transformer.decoder.bbox_embed_enc_sep.layers.#.*"), route: .defensive),
    ]
    if dropsLabelEncoder { remove.append(.init(pattern: .init("label_enc.weight"), route: .denoising)) }
    self.remove = remove

    var keep: [KeepRule] = [
      .init(pattern: .init("backbone.**"), group: "backbone"),
      .init(pattern: .init("neck.**"), group: "neck"),
      .init(pattern: .init("query_embedding.weight"), group: "queries"),
      .init(pattern: .init("pixel_mean"), group: "input normalisation"),
      .init(pattern: .init("pixel_std"), group: "input normalisation"),
      .init(pattern: .init("transformer.level_embeds"), group: "transformer embeddings"),
      .init(pattern: .init("transformer.enc_output.*"), group: "two-stage proposals"),
      .init(pattern: .init("transformer.enc_output_norm.*"), group: "two-stage proposals"),
      .init(pattern: .init("transformer.pos_trans.*"), group: "two-stage proposals"),
      .init(pattern: .init("transformer.pos_trans_norm.*"), group: "two-stage proposals"),
    ]
    let enc = "transformer.encoder.layers.#."
    for m in ["sampling_offsets", "attention_weights", "value_proj", "output_proj"] {
      keep.append(.init(pattern: .init(enc + "attentions.0.\(m).*"), group: "encoder"))
      keep.append(.init(pattern: .init(layer + "attentions.1.\(m).*"), group: "decoder cross-attention"))
    }
    keep += [
      .init(pattern: .init(enc + "ffns.0.layers.0.0.*"), group: "encoder"),
      .init(pattern: .init(enc + "ffns.0.layers.1.*"), group: "encoder"),
      .init(pattern: .init(enc + "norms.#.*"), group: "encoder"),
      .init(pattern: .init(layer + "attentions.0.attn.in_proj_weight"), group: "decoder self-attention"),
      .init(pattern: .init(layer + "attentions.0.attn.in_proj_bias"), group: "decoder self-attention"),
      .init(pattern: .init(layer + "attentions.0.attn.out_proj.*"), group: "decoder self-attention"),
      .init(pattern: .init(layer + "attentions.0.norm_o2o.*"), group: "decoder norm_o2o (primary post-SA norm)"),
      .init(pattern: .init(layer + "ffns.0.layers.0.linear.linear.*"), group: "decoder FFN"),
      .init(pattern: .init(layer + "ffns.0.layers.1.linear.*"), group: "decoder FFN"),
      .init(pattern: .init(layer + "norms.#.*"), group: "decoder norms"),
      .init(pattern: .init("class_embed.#.*"), group: "heads"),
      .init(pattern: .init("bbox_embed.#.layers.#.*"), group: "heads"),
      .init(pattern: .init("transformer.decoder.class_embed.#.*"), group: "heads (decoder aliases)"),
      .init(pattern: .init("transformer.decoder.bbox_embed.#.layers.#.*"), group: "heads (decoder aliases)"),
    ]
    if variant.hasLabelEncoder && !dropsLabelEncoder {
      keep.append(
        .init(pattern: .init("label_enc.weight"), group: "CDN label embedding (kept unless dropLabelEncoder)"))
    }
    if variant == .insseg {
      keep += [
        .init(pattern: .init("bbox_attention.**"), group: "mask head"),
        .init(pattern: .init("mask_head.**"), group: "mask head"),
        .init(pattern: .init("seg_input_proj.**"), group: "mask head"),
      ]
    }
    self.keep = keep
  }

  /// Classifies a state-dict name.
  public func classify(_ name: String) -> Classification {
    for r in remove where r.pattern.matches(name) { return .remove(r.route) }
    for k in keep where k.pattern.matches(name) { return .keep(group: k.group) }
    return .unknown
  }

  /// The manifest as JSON (for `--json` reports and documentation).
  public var json: JSONValue {
    var o = JSONObject()
    o["variant"] = .string(variant.rawValue)
    o["remove"] = .array(
      remove.map { r in
        var e = JSONObject()
        e["pattern"] = .string(r.pattern.description)
        e["route"] = .string(r.route.rawValue)
        return .object(e)
      })
    o["keep"] = .array(
      keep.map { k in
        var e = JSONObject()
        e["pattern"] = .string(k.pattern.description)
        e["group"] = .string(k.group)
        return .object(e)
      })
    return .object(o)
  }
}
