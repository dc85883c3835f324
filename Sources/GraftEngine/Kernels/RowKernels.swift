/// Row-wise kernels (normalisation, softmax, activations) over row-major `[rows × width]` buffers.
///
/// Each splits rows over the worker pool when the buffer is large enough to pay for the hand-off.
enum RowKernels {
  /// Runs `body(rowRange)` over `rows` rows, in parallel when `rows × costPerRow` is large.
  @inline(__always)
  static func forEachRowBlock(rows: Int, costPerRow: Int, _ body: @escaping @Sendable (Range<Int>) -> Void) {
    let threads = WorkerPool.shared.threadCount
    let parts = rows * costPerRow >= 1 << 16 ? min(threads, rows) : 1
    if parts <= 1 {
      body(0..<rows)
      return
    }
    WorkerPool.shared.run(parts: parts) { part in
      body((part * rows / parts)..<((part + 1) * rows / parts))
    }
  }

  /// Sums `count` values with eight-lane blocked accumulators, whose error grows with count/32 rather than count.
  @inline(__always)
  static func sum(_ x: UnsafePointer<Float>, count: Int) -> Float {
    let raw = UnsafeRawPointer(x)
    var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
    var i = 0
    while i + 32 <= count {
      a0 += raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
      a1 += raw.loadUnaligned(fromByteOffset: i * 4 + 32, as: SIMD8<Float>.self)
      a2 += raw.loadUnaligned(fromByteOffset: i * 4 + 64, as: SIMD8<Float>.self)
      a3 += raw.loadUnaligned(fromByteOffset: i * 4 + 96, as: SIMD8<Float>.self)
      i += 32
    }
    while i + 8 <= count {
      a0 += raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
      i += 8
    }
    var total = ((a0 + a1) + (a2 + a3)).sum()
    var tail: Float = 0
    while i < count {
      tail += x[i]
      i += 1
    }
    total += tail
    return total
  }

  /// Sums `(x − mean)²` with blocked accumulators (the two-pass variance, free of cancellation).
  @inline(__always)
  static func sumSquaredDeviation(_ x: UnsafePointer<Float>, count: Int, mean: Float) -> Float {
    let raw = UnsafeRawPointer(x)
    let m = SIMD8<Float>(repeating: mean)
    var a0 = SIMD8<Float>(), a1 = SIMD8<Float>()
    var i = 0
    while i + 16 <= count {
      let d0 = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) - m
      let d1 = raw.loadUnaligned(fromByteOffset: i * 4 + 32, as: SIMD8<Float>.self) - m
      multiplyAdd(&a0, d0, d0)
      multiplyAdd(&a1, d1, d1)
      i += 16
    }
    while i + 8 <= count {
      let d0 = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) - m
      multiplyAdd(&a0, d0, d0)
      i += 8
    }
    var total = (a0 + a1).sum()
    while i < count {
      let d = x[i] - mean
      total += d * d
      i += 1
    }
    return total
  }

  /// `y = (x − mean) / sqrt(var + eps) · gamma + beta` per row (biased variance, as `nn.LayerNorm`).
  ///
  /// `x` and `y` may be the same buffer.
  static func layerNorm(
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, width: Int,
    gamma: UnsafePointer<Float>?, beta: UnsafePointer<Float>?, eps: Float, xStride: Int? = nil, yStride: Int? = nil
  ) {
    let xs = xStride ?? width
    let ys = yStride ?? width
    let shared = RowOperands(x: UnsafeMutablePointer(mutating: x), y: y, gamma: gamma, beta: beta)
    forEachRowBlock(rows: rows, costPerRow: width * 3) { range in
      for r in range {
        let xr = UnsafePointer(shared.x + r * xs)
        let yr = shared.y + r * ys
        let mean = sum(xr, count: width) / Float(width)
        let variance = sumSquaredDeviation(xr, count: width, mean: mean) / Float(width)
        let inv = 1 / (variance + eps).squareRoot()
        for j in 0..<width {
          var v = (xr[j] - mean) * inv
          if let g = shared.gamma { v *= g[j] }
          if let b = shared.beta { v += b[j] }
          yr[j] = v
        }
      }
    }
  }

  /// Softmax of each row in place, after multiplying by `scale`.
  static func softmaxInPlace(_ x: UnsafeMutablePointer<Float>, rows: Int, width: Int, stride: Int, scale: Float) {
    for r in 0..<rows {
      let row = x + r * stride
      var m = -Float.infinity
      for j in 0..<width { m = max(m, row[j]) }
      let shift = m * scale
      let s = SIMD8<Float>(repeating: scale)
      let sh = SIMD8<Float>(repeating: shift)
      VectorMath.apply(row, count: width) { VectorMath.exp($0 * s - sh) }
      let inv = 1 / sum(row, count: width)
      let iv = SIMD8<Float>(repeating: inv)
      VectorMath.apply(row, count: width) { $0 * iv }
    }
  }

  /// GELU in place: `x·Φ(x)` with the exact erf form, or PyTorch's `approximate='tanh'` form.
  static func gelu(_ x: UnsafeMutablePointer<Float>, count: Int, approximateTanh: Bool) {
    let shared = SharedPointer(x)
    let blocks = (count + 4095) / 4096
    forEachRowBlock(rows: blocks, costPerRow: 4096 * 8) { range in
      let start = range.lowerBound * 4096
      let end = min(count, range.upperBound * 4096)
      if start >= end { return }
      let p = shared.pointer + start
      if approximateTanh {
        VectorMath.apply(p, count: end - start) { v in
          let inner = SIMD8<Float>(repeating: 0.797_884_56) * (v + SIMD8(repeating: 0.044_715) * v * v * v)
          return SIMD8(repeating: 0.5) * v * (SIMD8(repeating: 1) + VectorMath.tanh(inner))
        }
      } else {
        VectorMath.apply(p, count: end - start) { v in
          SIMD8(repeating: 0.5) * v * (SIMD8(repeating: 1) + VectorMath.erf(v * SIMD8(repeating: 0.707_106_77)))
        }
      }
    }
  }

  /// `y += x` elementwise, optionally `y += gamma ⊙ x` with `gamma` broadcast over rows of `width`.
  ///
  /// A `count` that is not a multiple of `width` ends in a partial row, which uses the first `gamma` values.
  static func addInPlace(
    _ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count: Int, gamma: UnsafePointer<Float>? = nil,
    width: Int = 1
  ) {
    if let gamma {
      var i = 0
      while i < count {
        for j in 0..<min(width, count - i) { y[i + j] += gamma[j] * x[i + j] }
        i += width
      }
    } else {
      for i in 0..<count { y[i] += x[i] }
    }
  }
}

/// Pointers for row kernels run on the pool.
///
/// Invariant: `x`, `gamma` and `beta` are only read; each worker writes only its own rows of `y`; the submitting
/// kernel returns after all workers finish, so the memory outlives every access.
struct RowOperands: @unchecked Sendable {
  // Invariant: workers write disjoint rows of `y`; the submitting kernel outlives every access.
  let x: UnsafeMutablePointer<Float>
  let y: UnsafeMutablePointer<Float>
  let gamma: UnsafePointer<Float>?
  let beta: UnsafePointer<Float>?
}
