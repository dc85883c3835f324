public import GraftCore

/// The constants and vectors of one DDPM reverse step folded into a DenoiseRep layer.
///
/// GraftCheck derives them from the checkpoint (schedule buffers, time MLP, the fusion's z) with GraftSurgery and
/// hands them to the engine, which knows nothing of DenoiseRep's key layout beyond `dm`.
public struct DenoiseRepStep: Sendable {
  /// `β_T / (√(1−ᾱ_T)·√α_T)`.
  public var c1: Double
  /// `√β_T`.
  public var c2: Double
  /// `1/√α_T`.
  public var c3: Double
  /// `e(T)`, added to the noise predictor's input (`exact`), or `nil`.
  public var timeEmbedding: [Float]?
  /// The z added as `c2·z` (`compat`), or `nil` for z = 0.
  public var noise: [Float]?

  /// Creates a step.
  public init(c1: Double, c2: Double, c3: Double, timeEmbedding: [Float]? = nil, noise: [Float]? = nil) {
    self.c1 = c1
    self.c2 = c2
    self.c3 = c3
    self.timeEmbedding = timeEmbedding
    self.noise = noise
  }
}

/// A DenoiseRep-wrapped Linear run explicitly: `y = W·(c3·x − c1·dm(x [+ e(T)]) + c2·z) + b`.
///
/// This is the unfused reference the fused Linear `y' = W'·x + b'` is checked against; the public code's eval
/// forward skips the denoiser entirely, so it cannot serve as one.
public struct DenoiseRepLinear: Sendable {
  /// The wrapped Linear, `W [out × in]` and `b`.
  public let linear: Linear
  /// The noise predictor `dm`, `W_d [in × in]` and `b_d`.
  public let predictor: Linear
  /// The step.
  public let step: DenoiseRepStep

  /// Input features.
  public var inFeatures: Int { linear.inFeatures }
  /// Output features.
  public var outFeatures: Int { linear.outFeatures }

  /// Creates a layer from its parts.
  ///
  /// - Throws: `invalidModel` when the predictor is not `[in × in]` or a vector's length is not `in`.
  public init(linear: Linear, predictor: Linear, step: DenoiseRepStep) throws(GraftError) {
    let d = linear.inFeatures
    guard predictor.inFeatures == d, predictor.outFeatures == d else {
      throw GraftError(
        .invalidModel,
        "the noise predictor is [\(predictor.outFeatures) × \(predictor.inFeatures)]; expected [\(d) × \(d)] "
          + "(it acts on the wrapped Linear's input)")
    }
    guard (step.timeEmbedding?.count ?? d) == d, (step.noise?.count ?? d) == d else {
      throw GraftError(.invalidModel, "the time embedding and z must have \(d) values (the Linear's input width)")
    }
    self.linear = linear
    self.predictor = predictor
    self.step = step
  }

  /// Loads `<prefix>weight`, `<prefix>bias`, `<prefix>dm.weight` and `<prefix>dm.bias`.
  ///
  /// - Throws: `invalidModel` naming the tensor when one is missing or misshapen.
  public init(
    _ weights: WeightLoader, prefix: String, inFeatures: Int?, outFeatures: Int?, step: DenoiseRepStep
  )
    throws(GraftError)
  {
    let linear = try Linear(weights, prefix: prefix, inFeatures: inFeatures, outFeatures: outFeatures)
    let d = linear.inFeatures
    let predictor = try Linear(
      weights, prefix: prefix + "dm.", inFeatures: d, outFeatures: d, requireBias: true)
    try self.init(linear: linear, predictor: predictor, step: step)
  }

  /// Denoises then projects the last dimension of `x`.
  ///
  /// - Throws: `invalidArgument` when the last dimension is not ``inFeatures``.
  public func forward(_ x: FloatTensor) throws(GraftError) -> FloatTensor {
    try linear.forward(denoise(x))
  }

  /// The denoised input `c3·x − c1·dm(x [+ e]) + c2·z`.
  public func denoise(_ x: FloatTensor) throws(GraftError) -> FloatTensor {
    let d = inFeatures
    var shifted = x
    if let e = step.timeEmbedding {
      guard x.shape.last == d else {
        throw GraftError(.invalidArgument, "input of shape \(x.shape); expected last dimension \(d)")
      }
      for r in 0..<(x.count / max(d, 1)) {
        for i in 0..<d { shifted.values[r * d + i] += e[i] }
      }
    }
    let eps = try predictor.forward(shifted)
    let c1 = Float(step.c1)
    let c2 = Float(step.c2)
    let c3 = Float(step.c3)
    var out = x
    for idx in 0..<x.count {
      var v = c3 * x.values[idx] - c1 * eps.values[idx]
      if let z = step.noise { v += c2 * z[idx % d] }
      out.values[idx] = v
    }
    return out
  }
}
