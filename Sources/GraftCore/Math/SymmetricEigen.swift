/// Eigendecomposition of a real symmetric matrix by the cyclic Jacobi method, in Float64.
///
/// Jacobi is slow (O(n³) per sweep) but unconditionally stable and accurate to working precision for every
/// eigenvalue, which is what the truncated SVD built on it needs for its small Gram matrices.
public enum SymmetricEigen {
  /// The most sweeps before giving up; Jacobi converges quadratically, so well-scaled matrices need fewer than 15.
  static let maximumSweeps = 60

  /// Eigenvalues in descending order and the matching unit eigenvectors as the columns of a row-major `n × n` matrix.
  ///
  /// - Parameter matrix: a row-major `n × n` symmetric matrix (only its upper triangle is trusted).
  /// - Throws: `invalidArgument` when the size does not match or a value is not finite; `unsupported` when the
  ///   sweeps do not converge.
  public static func decompose(_ matrix: [Double], n: Int) throws(GraftError) -> (values: [Double], vectors: [Double]) {
    guard n >= 0, matrix.count == n * n else {
      throw GraftError(.invalidArgument, "an eigendecomposition needs \(n)×\(n) values, got \(matrix.count)")
    }
    guard matrix.allSatisfy(\.isFinite) else {
      throw GraftError(.invalidArgument, "the matrix holds NaN or infinite values")
    }
    var a = matrix
    for i in 0..<n {
      for j in 0..<i { a[i * n + j] = a[j * n + i] }
    }
    var v = [Double](repeating: 0, count: n * n)
    for i in 0..<n { v[i * n + i] = 1 }
    var scale = 0.0
    for x in a { scale = max(scale, abs(x)) }
    var converged = n < 2 || scale == 0
    var sweep = 0
    while !converged && sweep < maximumSweeps {
      sweep += 1
      var off = 0.0
      for p in 0..<n {
        for q in (p + 1)..<n { off = max(off, abs(a[p * n + q])) }
      }
      if off <= scale * 1e-17 {
        converged = true
        break
      }
      for p in 0..<(n - 1) {
        for q in (p + 1)..<n { rotate(&a, &v, n: n, p: p, q: q) }
      }
    }
    guard converged else {
      throw GraftError(.unsupported, "the Jacobi eigendecomposition did not converge in \(maximumSweeps) sweeps")
    }
    let order = (0..<n).sorted { a[$0 * n + $0] > a[$1 * n + $1] || (a[$0 * n + $0] == a[$1 * n + $1] && $0 < $1) }
    var values = [Double](repeating: 0, count: n)
    var vectors = [Double](repeating: 0, count: n * n)
    for (k, i) in order.enumerated() {
      values[k] = a[i * n + i]
      for r in 0..<n { vectors[r * n + k] = v[r * n + i] }
    }
    return (values, vectors)
  }

  /// One Jacobi rotation zeroing `a[p][q]` (Golub & Van Loan, algorithm 8.5.2), applied to `a` and accumulated in `v`.
  private static func rotate(_ a: inout [Double], _ v: inout [Double], n: Int, p: Int, q: Int) {
    let apq = a[p * n + q]
    guard apq != 0 else { return }
    let theta = (a[q * n + q] - a[p * n + p]) / (2 * apq)
    let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + (theta * theta + 1).squareRoot())
    let c = 1 / (t * t + 1).squareRoot()
    let s = t * c
    for k in 0..<n {
      let akp = a[k * n + p]
      let akq = a[k * n + q]
      a[k * n + p] = c * akp - s * akq
      a[k * n + q] = s * akp + c * akq
    }
    for k in 0..<n {
      let apk = a[p * n + k]
      let aqk = a[q * n + k]
      a[p * n + k] = c * apk - s * aqk
      a[q * n + k] = s * apk + c * aqk
    }
    a[p * n + q] = 0
    a[q * n + p] = 0
    for k in 0..<n {
      let vkp = v[k * n + p]
      let vkq = v[k * n + q]
      v[k * n + p] = c * vkp - s * vkq
      v[k * n + q] = s * vkp + c * vkq
    }
  }
}
