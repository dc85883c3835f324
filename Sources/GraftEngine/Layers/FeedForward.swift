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

/// A pointwise activation (timm `act_layer`).
public enum Activation: String, Sendable, CaseIterable {
  /// GELU with the exact erf form (`nn.GELU()`).
  case gelu
  /// GELU with the tanh approximation (`nn.GELU(approximate='tanh')`).
  case geluTanh = "gelu_tanh"
  /// `x · sigmoid(1.702 x)` (timm `QuickGELU`, OpenAI CLIP).
  case quickGelu = "quick_gelu"
  /// `max(x, 0)`.
  case relu
  /// `x · sigmoid(x)` (`nn.SiLU`, also called swish).
  case silu

  /// Parses timm's and Hugging Face's names (`gelu`, `gelu_tanh`, `gelu_pytorch_tanh`, `gelu_new`, `quick_gelu`,
  /// `relu`, `silu`, `swish`), case-insensitively.
  public init?(parsing text: String) {
    switch text.lowercased() {
    case "gelu", "gelu_erf": self = .gelu
    case "gelu_tanh", "gelu_pytorch_tanh", "gelu_new", "gelu_fast": self = .geluTanh
    case "quick_gelu", "quickgelu": self = .quickGelu
    case "relu": self = .relu
    case "silu", "swish": self = .silu
    default: return nil
    }
  }

  /// Applies the activation in place.
  func apply(_ x: UnsafeMutablePointer<Float>, count: Int) {
    switch self {
    case .gelu, .geluTanh: RowKernels.gelu(x, count: count, approximateTanh: self == .geluTanh)
    case .quickGelu, .relu, .silu: ActivationKernels.apply(self, x, count: count)
    }
  }
}

/// The transformer MLP `fc2(norm(act(fc1(x))))` (timm `Mlp`; the norm only with `scale_mlp_norm`).
public struct DenseMLP: FeedForwardLayer {
  /// The first projection, width → hidden.
  public let fc1: Linear
  /// The second projection, hidden → width.
  public let fc2: Linear
  /// The activation between them.
  public let activation: Activation
  /// The norm over the hidden features (timm `scale_mlp_norm`), if any.
  public let norm: Norm?

  /// The input and output width.
  public var width: Int { fc1.inFeatures }

  /// Creates an MLP from its two projections.
  public init(fc1: Linear, fc2: Linear, activation: Activation, norm: Norm? = nil) {
    self.fc1 = fc1
    self.fc2 = fc2
    self.activation = activation
    self.norm = norm
  }

  /// Computes the MLP, optionally adding to `y`.
  public func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, accumulate: Bool) {
    let hidden = fc1.outFeatures
    var h = uninitializedFloats(rows * hidden) { fc1.apply(x, rows: rows, into: $0) }
    h.withUnsafeMutableBufferPointer { hb in
      guard let hp = hb.baseAddress else { return }
      activation.apply(hp, count: rows * hidden)
      norm?.apply(hp, rows: rows, into: hp)
      if accumulate {
        fc2.accumulate(hp, rows: rows, into: y)
      } else {
        fc2.apply(hp, rows: rows, into: y)
      }
    }
  }
}

/// How a block's MLP norm is built when the checkpoint has one (`mlp.norm.*`, timm `scale_mlp_norm`).
public struct HiddenNormSpec: Sendable, Equatable {
  /// The norm kind.
  public var kind: NormKind
  /// The epsilon.
  public var eps: Float

  /// Creates a spec.
  public init(kind: NormKind, eps: Float) {
    self.kind = kind
    self.eps = eps
  }

  /// Loads `<prefix>norm.` of `width` when present.
  func load(_ weights: WeightLoader, prefix: String, width: Int) throws(GraftError) -> Norm? {
    weights.contains(prefix + "norm.weight")
      ? try Norm(weights, prefix: prefix + "norm.", width: width, kind: kind, eps: eps) : nil
  }
}

/// Builds a ``DenseMLP`` from `fc1.weight [hidden, width]` and `fc2.weight [width, hidden]` (biases optional).
public struct DenseMLPBuilder: FeedForwardBuilder {
  /// The hidden norm's kind and epsilon; without it, an `mlp.norm` is left unread (and reported as unused).
  public var hiddenNorm: HiddenNormSpec?

  /// Creates the builder.
  public init(hiddenNorm: HiddenNormSpec? = nil) { self.hiddenNorm = hiddenNorm }

  /// Builds the MLP when `<prefix>fc1.weight` exists and `fc2` reads all of its outputs (otherwise it is gated).
  public func makeLayer(
    _ weights: WeightLoader, prefix: String, width: Int, activation: Activation
  ) throws(GraftError)
    -> (any FeedForwardLayer)?
  {
    guard let s1 = weights.shape(prefix + "fc1.weight") else { return nil }
    if let s2 = weights.shape(prefix + "fc2.weight"), s1.count == 2, s2.count == 2, s1[0] == 2 * s2[1], s1[0] != s2[1] {
      return nil
    }
    let fc1 = try Linear(weights, prefix: prefix + "fc1.", inFeatures: width, outFeatures: nil)
    let fc2 = try Linear(weights, prefix: prefix + "fc2.", inFeatures: fc1.outFeatures, outFeatures: width)
    let norm = try hiddenNorm?.load(weights, prefix: prefix, width: fc1.outFeatures)
    return DenseMLP(fc1: fc1, fc2: fc2, activation: activation, norm: norm)
  }
}
