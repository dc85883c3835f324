/// A Mr.DETR project variant; all share one decoder, so they differ only in which extra keys they carry.
public enum MrDETRVariant: String, Sendable, CaseIterable, Hashable {
  /// `mr_detr_deformable`: Deformable-DETR++ (two-stage, box refine, mixed selection).
  case deformable
  /// `mr_detr_dino`: adds the training-only CDN label embedding `label_enc`.
  case dino
  /// `mr_detr_align`: modeling identical to DINO (only the loss differs).
  case align
  /// `mr_detr_deformable_ins_seg`: Deformable++ plus a DETR-style mask head shared by all routes.
  case insseg

  /// Whether the variant has the CDN label embedding `label_enc.weight`.
  public var hasLabelEncoder: Bool { self == .dino || self == .align }

  /// Guesses the variant from a state dict's names.
  ///
  /// DINO and Align-DETR checkpoints have identical keys, so `label_enc` yields `.dino` with `ambiguous` set.
  public static func detect(_ names: some Sequence<String>) -> (variant: MrDETRVariant, ambiguous: Bool) {
    var hasMaskHead = false
    var hasLabelEnc = false
    for n in names {
      if n.hasPrefix("mask_head.") || n.hasPrefix("bbox_attention.") || n.hasPrefix("seg_input_proj.") {
        hasMaskHead = true
      }
      if n == "label_enc.weight" { hasLabelEnc = true }
    }
    if hasMaskHead { return (.insseg, false) }
    if hasLabelEnc { return (.dino, true) }
    return (.deformable, false)
  }
}

/// The training-only route a removed tensor belongs to.
public enum MrDETRRoute: String, Sendable, CaseIterable, Hashable, Comparable {
  /// Route-1 (o2m): the independent FFN weights `linear_sep`.
  case route1IndependentFFN = "route-1 independent FFN (linear_sep)"
  /// Route-3 (o2m): instruction tokens and the route's own post-self-attention LayerNorm `norm_o2m`.
  case route3InstructiveAttention = "route-3 instruction tokens + norm_o2m"
  /// Route-3 (o2m): its own encoder proposal heads.
  case route3Proposals = "route-3 encoder proposal heads"
  /// DINO/Align contrastive denoising: `label_enc`.
  case denoising = "CDN label embedding (training only)"
  /// Keys commented out in the released code, removed if present.
  case defensive = "defensive (commented-out aux keys)"

  /// Orders routes by declaration.
  public static func < (a: MrDETRRoute, b: MrDETRRoute) -> Bool {
    let all = Self.allCases
    return (all.firstIndex(of: a) ?? 0) < (all.firstIndex(of: b) ?? 0)
  }
}

/// The naming of a stripped checkpoint's decoder layers.
public enum MrDETRLayout: String, Sendable, CaseIterable, Hashable {
  /// Mr.DETR's own names (`attentions.0.norm_o2o`, `ffns.0.layers.0.linear.linear`).
  case mrdetr
  /// The stock detrex Deformable-DETR decoder names (`norms.0..2`, `ffns.0.layers.0.0`).
  case detrex
}
