public import GraftCore

/// A transformer MLP whose projections may be DenoiseRep-wrapped, run explicitly (denoise, then project).
public struct DenoiseRepMLP: FeedForwardLayer {
  /// One projection: plain, or wrapped in a denoiser.
  public enum Projection: Sendable {
    /// A plain Linear.
    case plain(Linear)
    /// A DenoiseRep layer.
    case denoised(DenoiseRepLinear)

    /// Input features.
    public var inFeatures: Int {
      switch self {
      case .plain(let l): return l.inFeatures
      case .denoised(let l): return l.inFeatures
      }
    }

    /// Output features.
    public var outFeatures: Int {
      switch self {
      case .plain(let l): return l.outFeatures
      case .denoised(let l): return l.outFeatures
      }
    }

    /// Applies the projection to the last dimension.
    public func forward(_ x: FloatTensor) throws(GraftError) -> FloatTensor {
      switch self {
      case .plain(let l): return try l.forward(x)
      case .denoised(let l): return try l.forward(x)
      }
    }
  }

  /// width → hidden.
  public let fc1: Projection
  /// hidden → width.
  public let fc2: Projection
  /// The activation between them.
  public let activation: Activation

  /// The input and output width.
  public var width: Int { fc1.inFeatures }

  /// Creates an MLP from its projections.
  public init(fc1: Projection, fc2: Projection, activation: Activation) {
    self.fc1 = fc1
    self.fc2 = fc2
    self.activation = activation
  }

  /// Computes `fc2(act(fc1(x)))`, optionally adding it to `y`.
  public func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, accumulate: Bool) {
    let w = width
    let input = FloatTensor(unchecked: [rows, w], values: Array(UnsafeBufferPointer(start: x, count: rows * w)))
    // Shapes were checked when the layer was built, so the forwards below cannot throw.
    guard var hidden = try? fc1.forward(input) else { return }
    hidden.values.withUnsafeMutableBufferPointer { h in
      if let hp = h.baseAddress { activation.apply(hp, count: h.count) }
    }
    guard let out = try? fc2.forward(hidden) else { return }
    for i in 0..<(rows * w) {
      y[i] = accumulate ? y[i] + out.values[i] : out.values[i]
    }
  }
}

/// Recognises MLPs with DenoiseRep-wrapped projections (`fc1.dm.weight`, `fc2.dm.weight`) and builds them explicitly.
public struct DenoiseRepMLPBuilder: FeedForwardBuilder {
  /// The step of each wrapped layer, by full tensor prefix without the trailing dot (`base.blocks.0.mlp.fc1`).
  public let steps: [String: DenoiseRepStep]

  /// Creates a builder.
  public init(steps: [String: DenoiseRepStep]) { self.steps = steps }

  /// Builds the MLP when either projection carries a `dm`.
  ///
  /// - Throws: `invalidModel` when a wrapped projection has no step, or a tensor is missing or misshapen.
  public func makeLayer(
    _ weights: WeightLoader, prefix: String, width: Int, activation: Activation
  ) throws(GraftError)
    -> (any FeedForwardLayer)?
  {
    guard weights.contains(prefix + "fc1.dm.weight") || weights.contains(prefix + "fc2.dm.weight") else { return nil }
    func projection(_ name: String, inFeatures: Int?, outFeatures: Int?) throws(GraftError) -> DenoiseRepMLP.Projection
    {
      let p = prefix + name + "."
      guard weights.contains(p + "dm.weight") else {
        return .plain(try Linear(weights, prefix: p, inFeatures: inFeatures, outFeatures: outFeatures))
      }
      let full = weights.fullName(prefix + name)
      guard let step = steps[full] else {
        throw GraftError(
          .invalidModel, "is a DenoiseRep layer but no step (T, constants) was given for it", tensor: full)
      }
      let layer = try DenoiseRepLinear(weights, prefix: p, inFeatures: inFeatures, outFeatures: outFeatures, step: step)
      // The schedule buffers and time MLP are folded into `step`; the wrapper's remaining tensors are its own.
      weights.markConsumed(under: p)
      return .denoised(layer)
    }
    let fc1 = try projection("fc1", inFeatures: width, outFeatures: nil)
    let fc2 = try projection("fc2", inFeatures: fc1.outFeatures, outFeatures: width)
    return DenoiseRepMLP(fc1: fc1, fc2: fc2, activation: activation)
  }
}
