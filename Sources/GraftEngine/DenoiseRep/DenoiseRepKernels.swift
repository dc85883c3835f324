/// The float32 matrix product the DenoiseRep fusion uses for `W·W_d`.
public enum DenoiseRepKernels {
  /// Depth per float32 partial product; partial sums are carried in float64 between blocks.
  static let depthBlock = 256

  /// `C[m×n] = A[m×k]·B[k×n]` (row-major) with the engine's SGEMM, each depth block of 256 summed in float32 and the
  /// blocks accumulated in float64.
  ///
  /// Blocking the depth bounds the float32 rounding to that of 256-term sums however wide the layer is (3072 for a
  /// ViT-B fc2); the fusion scales the product by `c1 ≈ 3e-3`, so the result is far below the float32 rounding of
  /// the fused weight. The signature matches GraftSurgery's `DenoiseRep.MatrixProduct`.
  public static func product(
    _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ m: Int, _ k: Int, _ n: Int,
    _ c: UnsafeMutablePointer<Double>
  ) {
    c.update(repeating: 0, count: m * n)
    if m == 0 || n == 0 || k == 0 { return }
    let partial = UnsafeMutablePointer<Float>.allocate(capacity: m * n)
    defer { partial.deallocate() }
    var p0 = 0
    while p0 < k {
      let depth = min(depthBlock, k - p0)
      GEMM.multiply(
        m: m, n: n, k: depth, a: MatrixOperand(a + p0, rowStride: k), b: MatrixOperand(b + p0 * n, rowStride: n),
        c: partial, ldc: n, overwrite: true)
      for i in 0..<(m * n) { c[i] += Double(partial[i]) }
      p0 += depth
    }
  }
}
