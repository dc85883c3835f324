/// Elementwise activations beyond GELU (which lives with the row kernels), vectorised and split over the pool.
enum ActivationKernels {
  /// Applies `activation` (quick GELU, ReLU or SiLU) to `count` values in place.
  static func apply(_ activation: Activation, _ x: UnsafeMutablePointer<Float>, count: Int) {
    let shared = SharedPointer(x)
    let blocks = (count + 4095) / 4096
    RowKernels.forEachRowBlock(rows: blocks, costPerRow: 4096 * 4) { range in
      let start = range.lowerBound * 4096
      let end = min(count, range.upperBound * 4096)
      if start >= end { return }
      let p = shared.pointer + start
      switch activation {
      case .relu: VectorMath.apply(p, count: end - start) { $0.replacing(with: 0, where: $0 .< 0) }
      case .silu: KernelSet.active.silu(p, count: end - start)
      case .quickGelu: VectorMath.apply(p, count: end - start) { $0 * sigmoid(SIMD8(repeating: 1.702) * $0) }
      case .gelu, .geluTanh: break  // Activation.apply sends these to RowKernels.gelu.
      }
    }
  }

  /// `1 / (1 + e^(−x))`; the clamped exponential keeps both tails finite (0 and 1 to Float32 precision).
  @inline(__always)
  static func sigmoid(_ x: SIMD8<Float>) -> SIMD8<Float> {
    SIMD8(repeating: 1) / (SIMD8(repeating: 1) + VectorMath.exp(-x))
  }
}
