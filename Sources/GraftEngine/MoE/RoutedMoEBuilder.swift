public import GraftCore

/// Recognises Graft's generic timm-style MoE layout (`Formats/moe-layouts.md`) and builds a ``RoutedMoELayer``.
///
/// Keys under the block's MLP prefix: `router.weight [E, d]` (and optional `router.bias [E]`),
/// `experts.{e}.fc1.weight [h_e, d]`, `experts.{e}.fc2.weight [d, h_e]` with optional biases, optional
/// `shared_expert.fc1/fc2.*` and optional `output_bias [d]`. The number of experts per token and the gate come from
/// the builder, else from the checkpoint's ``MoEConfiguration`` metadata, else top-1 renormalised.
public struct RoutedMoEBuilder: FeedForwardBuilder {
  /// Experts per token, overriding the metadata.
  public var topK: Int?
  /// The gate convention, overriding the metadata.
  public var gate: MoEGate?

  /// Creates a builder; `nil` values come from the checkpoint's metadata.
  public init(topK: Int? = nil, gate: MoEGate? = nil) {
    self.topK = topK
    self.gate = gate
  }

  /// Builds the layer when `<prefix>router.weight` exists.
  public func makeLayer(
    _ weights: WeightLoader, prefix: String, width: Int, activation: Activation
  ) throws(GraftError)
    -> (any FeedForwardLayer)?
  {
    guard weights.contains(prefix + "router.weight") else { return nil }
    let router = try Linear(weights, prefix: prefix + "router.", inFeatures: width, outFeatures: nil)
    let count = router.outFeatures
    guard count > 0 else {
      throw GraftError(
        .invalidModel, "has no rows; expected [experts, \(width)]", tensor: weights.fullName(prefix + "router.weight"))
    }
    var experts: [MoEExpert] = []
    for e in 0..<count {
      experts.append(try MoEExpert(weights, prefix: prefix + "experts.\(e).", width: width))
    }
    if weights.contains(prefix + "experts.\(count).fc1.weight") {
      throw GraftError(
        .invalidModel, "expert \(count) exists but the router has only \(count) rows",
        tensor: weights.fullName(prefix + "experts.\(count).fc1.weight"))
    }
    let shared =
      weights.contains(prefix + "shared_expert.fc1.weight")
      ? try MoEExpert(weights, prefix: prefix + "shared_expert.", width: width) : nil
    let bias = try weights.optionalFloats(prefix + "output_bias", shape: [width])
    let config = try MoEConfiguration(metadata: weights.table.metadata)
    let k = topK ?? config?.topK ?? 1
    guard k >= 1, k <= count else {
      throw GraftError(
        .invalidModel, "top-k is \(k) but the layer has \(count) experts",
        tensor: weights.fullName(prefix + "router.weight"))
    }
    return RoutedMoELayer(
      experts: experts, router: router, topK: k, gate: gate ?? config?.gate ?? .softmaxTopKRenormalized,
      sharedExpert: shared, outputBias: bias, activation: activation)
  }
}

/// The MLP builders for every MoE layout the engine runs, to put in ``VisionTransformer/Options/feedForwardBuilders``.
public enum MoEBuilders {
  /// The generic routed layout and the Jetpack dual-path SpheroMoE layout.
  public static func all(
    topK: Int? = nil, gate: MoEGate? = nil, sphero: SpheroMoEBuilder = SpheroMoEBuilder()
  )
    -> [any FeedForwardBuilder]
  {
    [RoutedMoEBuilder(topK: topK, gate: gate), sphero]
  }
}
