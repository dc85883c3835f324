/// Row kernels of decoder-only LLMs: RMSNorm, gated activations, residual adds.
enum LLMKernels {
  /// Sums the squares of `count` values with eight-lane blocked accumulators.
  @inline(__always)
  static func sumOfSquares(_ x: UnsafePointer<Float>, count: Int) -> Float {
    let raw = UnsafeRawPointer(x)
    var a0 = SIMD8<Float>()
    var a1 = SIMD8<Float>()
    var i = 0
    while i + 16 <= count {
      let v0 = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
      let v1 = raw.loadUnaligned(fromByteOffset: i * 4 + 32, as: SIMD8<Float>.self)
      a0 += v0 * v0
      a1 += v1 * v1
      i += 16
    }
    while i + 8 <= count {
      let v0 = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
      a0 += v0 * v0
      i += 8
    }
    var total = (a0 + a1).sum()
    while i < count {
      total += x[i] * x[i]
      i += 1
    }
    return total
  }

  /// `LlamaRMSNorm`: `y = w ⊙ (x · 1/sqrt(mean(x²) + eps))` per row of `width` values (no `1 + w`).
  ///
  /// Rows are `stride` apart in both buffers, which may be the same.
  static func rmsNorm(
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, width: Int, stride: Int,
    weight: UnsafePointer<Float>, eps: Float
  ) {
    let shared = RowOperands(x: UnsafeMutablePointer(mutating: x), y: y, gamma: weight, beta: nil)
    RowKernels.forEachRowBlock(rows: rows, costPerRow: width * 3) { range in
      guard let w = shared.gamma else { return }
      for r in range {
        let xr = UnsafePointer(shared.x + r * stride)
        let yr = shared.y + r * stride
        let inv = 1 / (sumOfSquares(xr, count: width) / Float(width) + eps).squareRoot()
        for j in 0..<width { yr[j] = w[j] * (xr[j] * inv) }
      }
    }
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
    RowKernels.forEachRowBlock(rows: rows, costPerRow: width * 16) { range in
      for r in range {
        let g = UnsafePointer(shared.x + r * 2 * width)
        let u = g + width
        let o = shared.y + r * width
        o.update(from: g, count: width)
        switch activation {
        case .silu:
          // torch's SiLU: x / (1 + e^−x).
          VectorMath.apply(o, count: width) { v in v / (SIMD8(repeating: 1) + VectorMath.exp(-v)) }
        case .gelu:
          RowKernels.gelu(o, count: width, approximateTanh: false)
        case .geluTanh:
          RowKernels.gelu(o, count: width, approximateTanh: true)
        }
        for j in 0..<width { o[j] *= u[j] }
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
