/// Row kernels of decoder-only LLMs: RMSNorm, gated activations, residual adds.
enum LLMKernels {
  /// `LlamaRMSNorm`: `y = w ⊙ (x · 1/sqrt(mean(x²) + eps))` per row of `width` values (no `1 + w`).
  ///
  /// Rows are `stride` apart in both buffers, which may be the same.
  static func rmsNorm(
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, width: Int, stride: Int,
    weight: UnsafePointer<Float>, eps: Float
  ) {
    RowKernels.rmsNorm(x, y, rows: rows, width: width, gamma: weight, eps: eps, xStride: stride, yStride: stride)
  }

  /// ``rmsNorm(_:_:rows:width:stride:weight:eps:)`` over contiguous rows with a weight array of `width` values.
  static func rmsNorm(
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, width: Int, weight: [Float], eps: Float
  ) {
    weight.withUnsafeBufferPointer { w in
      guard let base = w.baseAddress else { return }
      rmsNorm(x, y, rows: rows, width: width, stride: width, weight: base, eps: eps)
    }
  }

  /// Normalises `heads` head slices of every row in place (Qwen3's `q_norm` / `k_norm`, weight shared by heads).
  static func rmsNormHeads(
    _ x: UnsafeMutablePointer<Float>, rows: Int, rowStride: Int, heads: Int, headDim: Int, weight: [Float], eps: Float
  ) {
    weight.withUnsafeBufferPointer { w in
      guard let base = w.baseAddress else { return }
      for r in 0..<rows {
        rmsNorm(
          x + r * rowStride, x + r * rowStride, rows: heads, width: headDim, stride: headDim, weight: base, eps: eps)
      }
    }
  }

  /// `act(gate) ⊙ up` for rows of `[gate (width) | up (width)]`, written to `out` (`[rows × width]`).
  static func gatedActivation(
    _ gateUp: UnsafePointer<Float>, rows: Int, width: Int, into out: UnsafeMutablePointer<Float>,
    activation: LLMConfiguration.Activation
  ) {
    let shared = RowOperands(x: UnsafeMutablePointer(mutating: gateUp), y: out, gamma: nil, beta: nil)
    let kernels = KernelSet.active
    RowKernels.forEachRowBlock(rows: rows, costPerRow: width * 16) { range in
      for r in range {
        let g = UnsafePointer(shared.x + r * 2 * width)
        let u = g + width
        let o = shared.y + r * width
        switch activation {
        case .silu:
          kernels.siluMultiply(gate: g, up: u, into: o, count: width)
        case .gelu, .geluTanh:
          o.update(from: g, count: width)
          kernels.gelu(o, count: width, approximateTanh: activation == .geluTanh)
          for j in 0..<width { o[j] *= u[j] }
        }
      }
    }
  }

  /// `y += s · x` over `count` values.
  @inline(__always)
  static func addScaled(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, scale s: Float, count: Int) {
    for j in 0..<count { y[j] += x[j] * s }
  }

  /// The index of the largest value (the first on ties, as `torch.argmax`).
  static func argmax(_ x: UnsafePointer<Float>, count: Int) -> Int {
    var best = 0
    for j in 1..<max(count, 1) where x[j] > x[best] { best = j }
    return best
  }
}
