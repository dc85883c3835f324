/// Public entry points to the engine's SGEMM, for benchmarks and for layers outside this module.
public enum Matmul {
  /// `C[m×n] += A[m×k] · B[k×n]`, all row-major with leading dimensions `lda`, `ldb`, `ldc`.
  ///
  /// `threads` caps the parts the work is split into; the pool's size (`GRAFT_THREADS`, else the available
  /// processors) caps it too.
  public static func multiplyAdd(
    m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int = EngineBuildInfo.defaultThreadCount
  ) {
    GEMM.multiply(
      m: m, n: n, k: k, a: MatrixOperand(a, rowStride: lda), b: MatrixOperand(b, rowStride: ldb), c: c, ldc: ldc,
      threads: threads)
  }

  /// Batched `C[i] += A[i] · B[i]` for `count` contiguous row-major matrices.
  ///
  /// Small products run one per worker; large ones are split inside each product.
  public static func batchedMultiplyAdd(
    count: Int, m: Int, n: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
    c: UnsafeMutablePointer<Float>, threads: Int = EngineBuildInfo.defaultThreadCount
  ) {
    if count > 1 && m * n * k < 1 << 22 {
      let shared = SharedOperands(
        a: MatrixOperand(a, rowStride: k), b: MatrixOperand(b, rowStride: n), c: SharedPointer(c))
      WorkerPool.shared.run(parts: count) { i in
        GEMM.multiply(
          m: m, n: n, k: k, a: MatrixOperand(shared.a.base + i * m * k, rowStride: k),
          b: MatrixOperand(shared.b.base + i * k * n, rowStride: n), c: shared.c.pointer + i * m * n, ldc: n,
          threads: 1)
      }
      return
    }
    for i in 0..<count {
      GEMM.multiply(
        m: m, n: n, k: k, a: MatrixOperand(a + i * m * k, rowStride: k), b: MatrixOperand(b + i * k * n, rowStride: n),
        c: c + i * m * n, ldc: n, threads: threads)
    }
  }
}
