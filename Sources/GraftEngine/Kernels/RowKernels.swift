/// Row-wise kernels (normalisation, softmax, activations) over row-major `[rows × width]` buffers.
///
/// The arithmetic runs in the C kernels of the selected ``KernelSet``; this layer splits rows over the worker pool
/// when the buffer is large enough to pay for the hand-off.
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

  /// Runs `body(start, count)` over `count` values in blocks of 4096, in parallel when `count × costPerValue` is
  /// large.
  @inline(__always)
  static func forEachBlock(
    count: Int, costPerValue: Int, _ body: @escaping @Sendable (_ start: Int, _ count: Int) -> Void
  ) {
    let blocks = (count + 4095) / 4096
    forEachRowBlock(rows: blocks, costPerRow: 4096 * costPerValue) { range in
      let start = range.lowerBound * 4096
      let end = min(count, range.upperBound * 4096)
      if start < end { body(start, end - start) }
    }
  }

  /// `y = (x − mean) / sqrt(var + eps) · gamma + beta` per row (biased variance, as `nn.LayerNorm`).
  ///
  /// `x` and `y` may be the same buffer.
  static func layerNorm(
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, width: Int,
    gamma: UnsafePointer<Float>?, beta: UnsafePointer<Float>?, eps: Float, xStride: Int? = nil, yStride: Int? = nil,
    kernels: KernelSet = .active
  ) {
    let shared = RowOperands(x: UnsafeMutablePointer(mutating: x), y: y, gamma: gamma, beta: beta)
    forEachRowPair(shared, rows: rows, width: width, xStride: xStride, yStride: yStride, cost: 3) { x, y, n, xs, ys in
      kernels.layerNorm(
        x, y, rows: n, width: width, xStride: xs, yStride: ys, gamma: shared.gamma, beta: shared.beta, eps: eps)
    }
  }

  /// `y = x · rsqrt(mean(x²) + eps) · gamma` per row (timm's `RmsNorm`, `LlamaRMSNorm`); `gamma` may be absent.
  ///
  /// `x` and `y` may be the same buffer.
  static func rmsNorm(
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, width: Int, gamma: UnsafePointer<Float>?,
    eps: Float, xStride: Int? = nil, yStride: Int? = nil, kernels: KernelSet = .active
  ) {
    let shared = RowOperands(x: UnsafeMutablePointer(mutating: x), y: y, gamma: gamma, beta: nil)
    forEachRowPair(shared, rows: rows, width: width, xStride: xStride, yStride: yStride, cost: 2) { x, y, n, xs, ys in
      kernels.rmsNorm(x, y, rows: n, width: width, xStride: xs, yStride: ys, gamma: shared.gamma, eps: eps)
    }
  }

  /// Runs `body(xRows, yRows, count, xStride, yStride)` over blocks of rows of `operands.x` and `operands.y` (row
  /// strides default to `width`), on the pool when the rows cost enough.
  @inline(__always)
  private static func forEachRowPair(
    _ operands: RowOperands, rows: Int, width: Int, xStride: Int?, yStride: Int?, cost: Int,
    _ body: @escaping @Sendable (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int, Int, Int) -> Void
  ) {
    let xs = xStride ?? width
    let ys = yStride ?? width
    forEachRowBlock(rows: rows, costPerRow: width * cost) { range in
      body(operands.x + range.lowerBound * xs, operands.y + range.lowerBound * ys, range.count, xs, ys)
    }
  }

  /// Softmax of each row in place, after multiplying by `scale`; runs on the calling thread.
  static func softmaxInPlace(
    _ x: UnsafeMutablePointer<Float>, rows: Int, width: Int, stride: Int, scale: Float, kernels: KernelSet = .active
  ) {
    kernels.softmax(x, rows: rows, width: width, stride: stride, scale: scale)
  }

  /// GELU in place: `x·Φ(x)` with the exact erf form, or PyTorch's `approximate='tanh'` form.
  static func gelu(
    _ x: UnsafeMutablePointer<Float>, count: Int, approximateTanh: Bool, kernels: KernelSet = .active
  ) {
    let shared = SharedPointer(x)
    forEachBlock(count: count, costPerValue: 8) { start, n in
      kernels.gelu(shared.pointer + start, count: n, approximateTanh: approximateTanh)
    }
  }

  /// SiLU in place, `x / (1 + e^−x)`.
  static func silu(_ x: UnsafeMutablePointer<Float>, count: Int, kernels: KernelSet = .active) {
    let shared = SharedPointer(x)
    forEachBlock(count: count, costPerValue: 4) { start, n in
      kernels.silu(shared.pointer + start, count: n)
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
