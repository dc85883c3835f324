public import GraftCore

/// Layer normalisation over the last dimension, as `nn.LayerNorm` (biased variance, affine optional).
public struct LayerNorm: Sendable {
  /// The normalised width.
  public let width: Int
  /// The epsilon added to the variance.
  public let eps: Float
  let gamma: [Float]?
  let beta: [Float]?

  /// Creates a layer from its parameters.
  public init(width: Int, gamma: [Float]?, beta: [Float]?, eps: Float) {
    self.width = width
    self.gamma = gamma
    self.beta = beta
    self.eps = eps
  }

  /// Loads `<prefix>weight` and `<prefix>bias` of shape `[width]`.
  public init(_ weights: WeightLoader, prefix: String, width: Int, eps: Float) throws(GraftError) {
    let g = try weights.floats(prefix + "weight", shape: [width])
    let b = try weights.optionalFloats(prefix + "bias", shape: [width])
    self.init(width: width, gamma: g, beta: b, eps: eps)
  }

  /// Normalises `rows` rows from `x` into `y` (which may alias `x`).
  func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, xStride: Int? = nil) {
    let w = width
    let e = eps
    withOptionalPointer(gamma) { g in
      withOptionalPointer(beta) { b in
        RowKernels.layerNorm(x, y, rows: rows, width: w, gamma: g, beta: b, eps: e, xStride: xStride)
      }
    }
  }

  /// Normalises the last dimension of `x`.
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
