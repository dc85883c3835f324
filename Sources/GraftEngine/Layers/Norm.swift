public import GraftCore

/// Which normalisation a ViT's norm layers apply (timm `norm_layer`).
public enum NormKind: String, Sendable, CaseIterable {
  /// `nn.LayerNorm` / timm `LayerNorm`: mean and biased variance, affine weight and bias.
  case layerNorm = "layernorm"
  /// timm `RmsNorm`: `x · rsqrt(mean(x²) + eps) · weight`, no centring, no bias.
  case rmsNorm = "rmsnorm"

  /// Parses timm's and Hugging Face's spellings (`layernorm`, `layer_norm`, `rmsnorm`, `rms_norm`, `RmsNorm`).
  public init?(parsing text: String) {
    switch String(text.lowercased().filter { $0 != "_" }) {
    case "layernorm", "layernorm2d", "ln": self = .layerNorm
    case "rmsnorm", "rms": self = .rmsNorm
    default: return nil
    }
  }
}

/// Layer normalisation over the last dimension, as `nn.LayerNorm`: a ``Norm`` of kind ``NormKind/layerNorm``.
public typealias LayerNorm = Norm

/// A normalisation layer over the last dimension: LayerNorm or RMSNorm, with the checkpoint's epsilon.
public struct Norm: Sendable {
  /// The kind.
  public let kind: NormKind
  /// The normalised width.
  public let width: Int
  /// The epsilon added to the variance (or mean square).
  public let eps: Float
  let gamma: [Float]?
  let beta: [Float]?

  /// Creates a layer from its parameters.
  public init(kind: NormKind, width: Int, gamma: [Float]?, beta: [Float]?, eps: Float) {
    self.kind = kind
    self.width = width
    self.gamma = gamma
    self.beta = beta
    self.eps = eps
  }

  /// Creates a LayerNorm from its parameters.
  public init(width: Int, gamma: [Float]?, beta: [Float]?, eps: Float) {
    self.init(kind: .layerNorm, width: width, gamma: gamma, beta: beta, eps: eps)
  }

  /// Loads a LayerNorm's `<prefix>weight` and `<prefix>bias` (optional) of shape `[width]`.
  public init(_ weights: WeightLoader, prefix: String, width: Int, eps: Float) throws(GraftError) {
    try self.init(weights, prefix: prefix, width: width, kind: .layerNorm, eps: eps)
  }

  /// Loads `<prefix>weight` (and, for LayerNorm, `<prefix>bias` when present), both of shape `[width]`.
  ///
  /// - Throws: `invalidModel` when the weight is missing or misshapen, or an RMSNorm has a bias (timm's has none).
  public init(_ weights: WeightLoader, prefix: String, width: Int, kind: NormKind, eps: Float) throws(GraftError) {
    let g = try weights.floats(prefix + "weight", shape: [width])
    var b: [Float]?
    switch kind {
    case .layerNorm: b = try weights.optionalFloats(prefix + "bias", shape: [width])
    case .rmsNorm:
      if weights.contains(prefix + "bias") {
        throw GraftError(
          .invalidModel, "an RMSNorm has no bias; this norm has one, so it is a LayerNorm (pass norm layernorm)",
          tensor: weights.fullName(prefix + "bias")
        ).resolved(by: "norm")
      }
    }
    self.init(kind: kind, width: width, gamma: g, beta: b, eps: eps)
  }

  /// Normalises `rows` rows of `width` values from `x` (row stride `xStride`) into `y` (which may alias `x`).
  func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, xStride: Int? = nil) {
    let w = width
    let e = eps
    let stride = xStride ?? w
    withOptionalPointer(gamma) { g in
      withOptionalPointer(beta) { b in
        switch kind {
        case .layerNorm:
          RowKernels.layerNorm(x, y, rows: rows, width: w, gamma: g, beta: b, eps: e, xStride: stride)
        case .rmsNorm:
          RowKernels.rmsNorm(x, y, rows: rows, width: w, gamma: g, eps: e, xStride: stride)
        }
      }
    }
  }

  /// Normalises every head slice of the q (or k) part of `tokens` packed rows in place (timm `qk_norm`).
  func applyPerHead(_ x: UnsafeMutablePointer<Float>, tokens: Int, heads: Int, rowStride: Int) {
    for r in 0..<tokens {
      let row = x + r * rowStride
      apply(row, rows: heads, into: row)
    }
  }

  /// Normalises the last dimension of `x`.
  ///
  /// - Throws: `invalidArgument` when the last dimension is not ``width``.
  public func forward(_ x: FloatTensor) throws(GraftError) -> FloatTensor {
    guard x.shape.last == width else {
      throw GraftError(.invalidArgument, "input of shape \(x.shape); expected last dimension \(width)")
    }
    var out = x
    let rows = x.count / max(width, 1)
    out.values.withUnsafeMutableBufferPointer { p in
      if let base = p.baseAddress { apply(base, rows: rows, into: base) }
    }
    return out
  }
}

/// Calls `body` with the array's base address, or `nil` for a missing or empty array.
@inline(__always)
func withOptionalPointer<R>(_ values: [Float]?, _ body: (UnsafePointer<Float>?) -> R) -> R {
  guard let values else { return body(nil) }
  return values.withUnsafeBufferPointer { body($0.baseAddress) }
}
