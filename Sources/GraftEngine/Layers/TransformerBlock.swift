public import GraftCore

/// A pre-norm transformer encoder block: `x += ls1·attn(norm1(x)); x += ls2·mlp(norm2(x))` (timm `Block`).
public struct TransformerBlock: Sendable {
  /// The model width.
  public let width: Int
  let norm1: Norm
  let attention: MultiHeadAttention
  let layerScale1: [Float]?
  let norm2: Norm
  /// The MLP slot.
  public let mlp: any FeedForwardLayer
  let layerScale2: [Float]?

  /// Loads block `prefix` (such as `blocks.3.`); the MLP comes from the first builder that recognises it.
  ///
  /// Every norm of the block is of `normKind` with epsilon `eps`.
  ///
  /// - Throws: `invalidModel` for missing or misshapen tensors, or when no builder recognises the MLP.
  public init(
    _ weights: WeightLoader, prefix: String, width: Int, heads: Int, eps: Float, normKind: NormKind = .layerNorm,
    activation: Activation, feedForwardBuilders: [any FeedForwardBuilder]
  ) throws(GraftError) {
    self.width = width
    norm1 = try Norm(weights, prefix: prefix + "norm1.", width: width, kind: normKind, eps: eps)
    attention = try MultiHeadAttention(
      weights, prefix: prefix + "attn.", width: width, heads: heads, eps: eps, normKind: normKind)
    layerScale1 = try weights.optionalFloats(prefix + "ls1.gamma", shape: [width])
    norm2 = try Norm(weights, prefix: prefix + "norm2.", width: width, kind: normKind, eps: eps)
    var found: (any FeedForwardLayer)?
    for builder in feedForwardBuilders {
      if let layer = try builder.makeLayer(weights, prefix: prefix + "mlp.", width: width, activation: activation) {
        found = layer
        break
      }
    }
    guard let found else {
      throw GraftError(
        .invalidModel, "missing tensor; expected an MLP weight [hidden, \(width)]",
        tensor: weights.fullName(prefix + "mlp.fc1.weight"))
    }
    mlp = found
    layerScale2 = try weights.optionalFloats(prefix + "ls2.gamma", shape: [width])
  }

  /// Runs the block in place on the residual stream `x` (`[batch·tokens × width]`).
  func apply(_ x: UnsafeMutablePointer<Float>, batch: Int, tokens: Int) {
    let rows = batch * tokens
    let count = rows * width
    var normed = uninitializedFloats(count) { norm1.apply(x, rows: rows, into: $0) }
    normed.withUnsafeMutableBufferPointer { nb in
      guard let n = nb.baseAddress else { return }
      if let layerScale1 {
        var branch = uninitializedFloats(count) {
          attention.apply(n, batch: batch, tokens: tokens, into: $0, accumulate: false)
        }
        addScaled(x, &branch, layerScale1)
      } else {
        attention.apply(n, batch: batch, tokens: tokens, into: x, accumulate: true)
      }
      norm2.apply(x, rows: rows, into: n)
      if let layerScale2 {
        var branch = uninitializedFloats(count) { mlp.apply(n, rows: rows, into: $0, accumulate: false) }
        addScaled(x, &branch, layerScale2)
      } else {
        mlp.apply(n, rows: rows, into: x, accumulate: true)
      }
    }
  }

  private func addScaled(_ x: UnsafeMutablePointer<Float>, _ branch: inout [Float], _ gamma: [Float]) {
    let count = branch.count
    branch.withUnsafeBufferPointer { b in
      gamma.withUnsafeBufferPointer { g in
        guard let bp = b.baseAddress, let gp = g.baseAddress else { return }
        RowKernels.addInPlace(x, bp, count: count, gamma: gp, width: width)
      }
    }
  }
}
