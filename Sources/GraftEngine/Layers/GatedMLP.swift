public import GraftCore

/// The structure of a ViT block's MLP (timm `mlp_layer`); the activation is the model's `act_layer` in every case.
public enum MLPKind: String, Sendable, CaseIterable {
  /// `fc2(act(fc1(x)))` (timm `Mlp`).
  case mlp
  /// `fc2(act(fc1_g(x)) · fc1_x(x))` (timm `SwiGLU`, split projections).
  case swiglu
  /// One packed `fc1` whose first half is the gate: `fc2(act(a) · b)` (timm `SwiGLUPacked`; DINOv2's `w12`/`w3`).
  case swigluPacked = "swiglu_packed"
  /// One packed `fc1` whose second half is the gate: `fc2(a · act(b))` (timm `GluMlp`).
  case glu

  /// Parses timm's names (`mlp`, `swiglu`, `swiglu_packed`, `SwiGLUPacked`, `glu`, `GluMlp`).
  public init?(parsing text: String) {
    switch String(text.lowercased().filter { $0 != "_" }) {
    case "mlp": self = .mlp
    case "swiglu": self = .swiglu
    case "swiglupacked": self = .swigluPacked
    case "glu", "glumlp": self = .glu
    default: return nil
    }
  }
}

/// A gated MLP `fc2(norm(act(gate(x)) · value(x)))`, with the packed projection split into gate and value at load.
public struct GatedMLP: FeedForwardLayer {
  /// The gate projection, width → hidden.
  public let gate: Linear
  /// The value projection, width → hidden.
  public let value: Linear
  /// The output projection, hidden → width.
  public let fc2: Linear
  /// The activation applied to the gate.
  public let activation: Activation
  /// The norm over the hidden features (timm `scale_mlp_norm`), if any.
  public let norm: Norm?

  /// The input and output width.
  public var width: Int { gate.inFeatures }

  /// Computes the MLP, optionally adding to `y`.
  public func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, accumulate: Bool) {
    let hidden = gate.outFeatures
    let count = rows * hidden
    var g = uninitializedFloats(count) { gate.apply(x, rows: rows, into: $0) }
    let v = uninitializedFloats(count) { value.apply(x, rows: rows, into: $0) }
    g.withUnsafeMutableBufferPointer { gb in
      guard let gp = gb.baseAddress else { return }
      activation.apply(gp, count: count)
      v.withUnsafeBufferPointer { vb in
        guard let vp = vb.baseAddress else { return }
        for i in 0..<count { gp[i] *= vp[i] }
      }
      norm?.apply(gp, rows: rows, into: gp)
      if accumulate {
        fc2.accumulate(gp, rows: rows, into: y)
      } else {
        fc2.apply(gp, rows: rows, into: y)
      }
    }
  }
}

/// Builds a ``GatedMLP`` from timm `SwiGLU` (`fc1_g`, `fc1_x`, `fc2`), a packed `fc1` twice as wide as `fc2`'s input
/// (timm `SwiGLUPacked` / `GluMlp`, whose gate half `packedKind` says), or DINOv2's `w12` / `w3`.
public struct GatedMLPBuilder: FeedForwardBuilder {
  /// Which half of a packed `fc1` is the gate: `.swigluPacked` (first) or `.glu` (second); `nil` refuses packed MLPs.
  public var packedKind: MLPKind?
  /// The hidden norm's kind and epsilon.
  public var hiddenNorm: HiddenNormSpec?

  /// Creates the builder.
  public init(packedKind: MLPKind?, hiddenNorm: HiddenNormSpec?) {
    self.packedKind = packedKind
    self.hiddenNorm = hiddenNorm
  }

  /// Builds the MLP when the tensors under `prefix` are gated, otherwise returns `nil`.
  ///
  /// - Throws: `invalidModel` when a gated MLP is misshapen, or a packed one has no ``packedKind``.
  public func makeLayer(
    _ weights: WeightLoader, prefix: String, width: Int, activation: Activation
  ) throws(GraftError)
    -> (any FeedForwardLayer)?
  {
    if weights.contains(prefix + "fc1_g.weight") {
      let gate = try Linear(weights, prefix: prefix + "fc1_g.", inFeatures: width, outFeatures: nil)
      let value = try Linear(weights, prefix: prefix + "fc1_x.", inFeatures: width, outFeatures: gate.outFeatures)
      return try finish(weights, prefix: prefix, gate: gate, value: value, out: "fc2.", activation: activation)
    }
    if weights.contains(prefix + "w12.weight") {
      let (a, b) = try Self.split(weights, prefix: prefix + "w12.", width: width)
      return try finish(weights, prefix: prefix, gate: a, value: b, out: "w3.", activation: activation)
    }
    guard let s1 = weights.shape(prefix + "fc1.weight"), let s2 = weights.shape(prefix + "fc2.weight"),
      s1.count == 2, s2.count == 2, s1[0] == 2 * s2[1], s1[0] != s2[1]
    else { return nil }
    guard let packedKind else {
      throw GraftError(
        .invalidModel,
        "fc1 has \(s1[0]) outputs and fc2 reads \(s2[1]): a packed gated MLP, but which half is the gate is not in "
          + "the tensors; pass mlp swiglu_packed (gate first, timm SwiGLUPacked) or glu (gate last, timm GluMlp)",
        tensor: weights.fullName(prefix + "fc1.weight")
      ).resolved(by: "mlp")
    }
    let (a, b) = try Self.split(weights, prefix: prefix + "fc1.", width: width)
    let (gate, value) = packedKind == .glu ? (b, a) : (a, b)
    return try finish(weights, prefix: prefix, gate: gate, value: value, out: "fc2.", activation: activation)
  }

  private func finish(
    _ weights: WeightLoader, prefix: String, gate: Linear, value: Linear, out: String, activation: Activation
  ) throws(GraftError) -> GatedMLP {
    let hidden = gate.outFeatures
    let fc2 = try Linear(weights, prefix: prefix + out, inFeatures: hidden, outFeatures: gate.inFeatures)
    let norm = try hiddenNorm?.load(weights, prefix: prefix, width: hidden)
    return GatedMLP(gate: gate, value: value, fc2: fc2, activation: activation, norm: norm)
  }

  /// Splits a packed `[2·hidden, width]` projection (and its bias) into its first and second halves.
  static func split(_ weights: WeightLoader, prefix: String, width: Int) throws(GraftError) -> (Linear, Linear) {
    let shape = try weights.requireShape(prefix + "weight", expecting: "[2·hidden, \(width)]")
    guard shape.count == 2, shape[1] == width, shape[0] > 0, shape[0] % 2 == 0 else {
      throw GraftError(
        .invalidModel, "has shape \(shape); expected a packed gated projection [2·hidden, \(width)]",
        tensor: weights.fullName(prefix + "weight"))
    }
    let h = shape[0] / 2
    let w = try weights.floats(prefix + "weight", shape: shape)
    let b = try weights.optionalFloats(prefix + "bias", shape: [2 * h])
    let first = Linear(
      weight: Array(w[0..<(h * width)]), bias: b.map { Array($0[0..<h]) }, outFeatures: h, inFeatures: width)
    let second = Linear(
      weight: Array(w[(h * width)...]), bias: b.map { Array($0[h...]) }, outFeatures: h, inFeatures: width)
    return (first, second)
  }
}
