public import GraftCore

/// The MLP slot of a transformer block: any token-wise map from `width` to `width` features.
///
/// A dense MLP fills it by default; a mixture-of-experts layer or a DenoiseRep layer plugs in by conforming and by
/// providing a ``FeedForwardBuilder`` that recognises its tensors.
public protocol FeedForwardLayer: Sendable {
  /// The input and output width.
  var width: Int { get }

  /// Computes `f(x)` for `rows` rows of `x` (`[rows × width]`, contiguous) into `y`, or adds it to `y` when
  /// `accumulate` is true (the block's residual stream).
  ///
  /// `x` and `y` never alias. Implementations may use the engine's worker pool internally.
  func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, accumulate: Bool)
}

/// Recognises one kind of MLP from the tensors under a block's MLP prefix and builds it.
public protocol FeedForwardBuilder: Sendable {
  /// Returns the layer under `prefix` (such as `blocks.3.mlp.`), or `nil` when those tensors are not this kind.
  ///
  /// - Throws: `invalidModel` when the tensors are this kind but missing or misshapen.
  func makeLayer(
    _ weights: WeightLoader, prefix: String, width: Int, activation: Activation
  ) throws(GraftError)
    -> (any FeedForwardLayer)?
}

/// A pointwise activation.
public enum Activation: String, Sendable, CaseIterable {
  /// GELU with the exact erf form (`nn.GELU()`).
  case gelu
  /// GELU with the tanh approximation (`nn.GELU(approximate='tanh')`).
  case geluTanh = "gelu_tanh"

  /// Applies the activation in place.
  func apply(_ x: UnsafeMutablePointer<Float>, count: Int) {
    RowKernels.gelu(x, count: count, approximateTanh: self == .geluTanh)
  }
}

/// The transformer MLP `fc2(act(fc1(x)))` (timm `Mlp`).
public struct DenseMLP: FeedForwardLayer {
  /// The first projection, width → hidden.
  public let fc1: Linear
  /// The second projection, hidden → width.
  public let fc2: Linear
  /// The activation between them.
  public let activation: Activation

  /// The input and output width.
  public var width: Int { fc1.inFeatures }

  /// Creates an MLP from its two projections.
  public init(fc1: Linear, fc2: Linear, activation: Activation) {
    self.fc1 = fc1
    self.fc2 = fc2
    self.activation = activation
  }

  /// Computes the MLP, optionally adding to `y`.
  public func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, accumulate: Bool) {
    let hidden = fc1.outFeatures
    var h = uninitializedFloats(rows * hidden) { fc1.apply(x, rows: rows, into: $0) }
    h.withUnsafeMutableBufferPointer { hb in
      guard let hp = hb.baseAddress else { return }
      activation.apply(hp, count: rows * hidden)
      if accumulate {
        fc2.accumulate(hp, rows: rows, into: y)
      } else {
        fc2.apply(hp, rows: rows, into: y)
      }
    }
  }
}

/// Builds a ``DenseMLP`` from `fc1.weight [hidden, width]` and `fc2.weight [width, hidden]` (biases optional).
public struct DenseMLPBuilder: FeedForwardBuilder {
  /// Creates the builder.
  public init() {}

  /// Builds the MLP when `<prefix>fc1.weight` exists.
  public func makeLayer(
    _ weights: WeightLoader, prefix: String, width: Int, activation: Activation
  ) throws(GraftError)
    -> (any FeedForwardLayer)?
  {
    guard weights.contains(prefix + "fc1.weight") else { return nil }
    let fc1 = try Linear(weights, prefix: prefix + "fc1.", inFeatures: width, outFeatures: nil)
    let fc2 = try Linear(weights, prefix: prefix + "fc2.", inFeatures: fc1.outFeatures, outFeatures: width)
    return DenseMLP(fc1: fc1, fc2: fc2, activation: activation)
  }
}
