public import GraftCore

/// Recognises MoE-Jetpack's dual-path layout (`mlp.phi`, `mlp.core_experts.vit_fc1.weight`, …) and builds a
/// ``SpheroMoELayer``.
///
/// Expert stacks are `[E, out, in]` with biases `[E, out]`; `scales.0` and `scales.1` are scalars; `slot_norm` is
/// optional. The sequence length comes from `pos_embed` (plus class and register tokens when `pos_embed` covers
/// only the patches).
public struct SpheroMoEBuilder: FeedForwardBuilder {
  /// Logit noise: `nil` (the default) for none, else a seed and multiplier (Jetpack: `1/E`).
  public var noise: (seed: UInt64, multiplier: Float)?

  /// Creates a builder.
  public init(noise: (seed: UInt64, multiplier: Float)? = nil) { self.noise = noise }

  /// Builds the layer when `<prefix>phi` exists.
  public func makeLayer(
    _ weights: WeightLoader, prefix: String, width: Int, activation: Activation
  ) throws(GraftError)
    -> (any FeedForwardLayer)?
  {
    guard weights.contains(prefix + "phi") else { return nil }
    let phiShape = try weights.requireShape(prefix + "phi", expecting: "[experts, slots, \(width)]")
    guard phiShape.count == 3, phiShape[2] == width, phiShape[0] > 0, phiShape[1] > 0 else {
      throw GraftError(
        .invalidModel, "has shape \(phiShape); expected [experts, slots, \(width)]",
        tensor: weights.fullName(prefix + "phi"))
    }
    let phi = try weights.floats(prefix + "phi", shape: phiShape)
    let core = try Self.stack(weights, prefix: prefix + "core_experts.", width: width)
    let universal = try Self.stack(weights, prefix: prefix + "univ_experts.", width: width)
    guard core.count + universal.count == phiShape[0] else {
      throw GraftError(
        .invalidModel,
        "has \(phiShape[0]) expert queries but there are \(core.count) core and \(universal.count) universal experts",
        tensor: weights.fullName(prefix + "phi"))
    }
    let s0 = try weights.floats(prefix + "scales.0", shape: [])[0]
    let s1 = try weights.floats(prefix + "scales.1", shape: [])[0]
    let norm =
      weights.contains(prefix + "slot_norm.weight")
      ? try LayerNorm(weights, prefix: prefix + "slot_norm.", width: width, eps: 1e-5) : nil
    return SpheroMoELayer(
      phi: phi, expertCount: phiShape[0], slotsPerExpert: phiShape[1], width: width, coreExperts: core,
      universalExperts: universal, scales: (s0, s1), slotNorm: norm, tokens: try Self.tokens(weights),
      activation: activation, noise: noise)
  }

  /// Splits `<prefix>vit_fc1.*` / `vit_fc2.*` stacks into experts; no stack means no experts of this kind.
  static func stack(_ weights: WeightLoader, prefix: String, width: Int) throws(GraftError) -> [MoEExpert] {
    guard let s1 = weights.shape(prefix + "vit_fc1.weight") else { return [] }
    guard s1.count == 3, s1[2] == width else {
      throw GraftError(
        .invalidModel, "has shape \(s1); expected [experts, hidden, \(width)]",
        tensor: weights.fullName(prefix + "vit_fc1.weight"))
    }
    let (e, h) = (s1[0], s1[1])
    let w1 = try weights.floats(prefix + "vit_fc1.weight", shape: [e, h, width])
    let b1 = try weights.optionalFloats(prefix + "vit_fc1.bias", shape: [e, h])
    let w2 = try weights.floats(prefix + "vit_fc2.weight", shape: [e, width, h])
    let b2 = try weights.optionalFloats(prefix + "vit_fc2.bias", shape: [e, width])
    return (0..<e).map { i in
      MoEExpert(
        fc1: Linear(
          weight: Array(w1[(i * h * width)..<((i + 1) * h * width)]),
          bias: b1.map { Array($0[(i * h)..<((i + 1) * h)]) },
          outFeatures: h, inFeatures: width),
        fc2: Linear(
          weight: Array(w2[(i * h * width)..<((i + 1) * h * width)]),
          bias: b2.map { Array($0[(i * width)..<((i + 1) * width)]) }, outFeatures: width, inFeatures: h))
    }
  }

  /// The sequence length implied by `pos_embed`, `cls_token` and `reg_token`.
  static func tokens(_ weights: WeightLoader) throws(GraftError) -> Int {
    let pos = try weights.requireShape("pos_embed", expecting: "[1, tokens, width]")
    guard pos.count == 3 else {
      throw GraftError(
        .invalidModel, "has shape \(pos); expected [1, tokens, width]", tensor: weights.fullName("pos_embed"))
    }
    let prefixTokens = (weights.contains("cls_token") ? 1 : 0) + (weights.shape("reg_token")?[1] ?? 0)
    func isSquare(_ n: Int) -> Bool {
      guard n > 0 else { return false }
      var r = 0
      while (r + 1) * (r + 1) <= n { r += 1 }
      return r * r == n
    }
    if prefixTokens > 0 && isSquare(pos[1] - prefixTokens) { return pos[1] }
    return isSquare(pos[1]) ? pos[1] + prefixTokens : pos[1]
  }
}
