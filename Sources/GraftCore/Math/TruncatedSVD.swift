/// The leading singular triplets of a real matrix, computed in Float64: `M ≈ U·diag(σ)·Vᵀ`.
///
/// Small matrices (the smaller side at most ``exactLimit``) go through the eigendecomposition of the smaller Gram
/// matrix (`MᵀM` or `MMᵀ`), which is exact up to rounding for every singular value that is not tiny next to the
/// largest (relative error ≈ ε·σ₁²/σᵢ²). Larger ones use subspace iteration (a seeded Gaussian start, power steps,
/// then the same Gram eigendecomposition of the projected `p × n` matrix), so the cost is O(m·n·p) rather than O(n³).
public struct TruncatedSVD: Sendable {
  /// How the triplets were computed.
  public enum Method: Sendable, Equatable {
    /// Eigendecomposition of the smaller Gram matrix.
    case gram
    /// Subspace iteration with this many power steps and this many columns.
    case subspace(steps: Int, columns: Int)
  }

  /// The smaller side up to which the exact Gram path is used.
  public static let exactLimit = 384
  /// Power steps of the subspace path.
  public static let powerSteps = 6

  /// Rows of the matrix.
  public var rows: Int
  /// Columns of the matrix.
  public var columns: Int
  /// The number of triplets kept.
  public var rank: Int
  /// Left singular vectors, row-major `rows × rank`.
  public var u: [Double]
  /// Singular values, descending.
  public var singularValues: [Double]
  /// Right singular vectors, row-major `columns × rank`.
  public var v: [Double]
  /// How they were computed.
  public var method: Method

  /// The `rank` leading triplets of the row-major `rows × columns` matrix `m` (fewer when a side is shorter).
  ///
  /// - Throws: `invalidArgument` when the sizes do not match or a value is not finite.
  public static func compute(
    _ m: [Double], rows: Int, columns: Int, rank: Int, seed: UInt64 = 0
  ) throws(GraftError) -> TruncatedSVD {
    guard rows >= 0, columns >= 0, rank >= 1, m.count == rows * columns else {
      throw GraftError(
        .invalidArgument, "an SVD of rank \(rank) needs a \(rows)×\(columns) matrix, got \(m.count) values")
    }
    let k = min(rank, rows, columns)
    if min(rows, columns) <= exactLimit {
      let (u, s, v) = try gram(m, rows: rows, columns: columns, keep: k)
      return TruncatedSVD(rows: rows, columns: columns, rank: k, u: u, singularValues: s, v: v, method: .gram)
    }
    let p = min(k + 8, min(rows, columns))
    var rng = SplitMix64(seed: seed)
    var omega = [Double](repeating: 0, count: columns * p)
    for i in omega.indices { omega[i] = Double(rng.nextSignedUnitFloat()) }
    var q = orthonormalized(multiply(m, rows: rows, inner: columns, omega, columns: p), rows: rows, columns: p)
    for _ in 0..<powerSteps {
      let z = orthonormalized(
        multiply(m, transposingA: true, rows: columns, inner: rows, q, columns: p), rows: columns, columns: p)
      q = orthonormalized(multiply(m, rows: rows, inner: columns, z, columns: p), rows: rows, columns: p)
    }
    // B = Qᵀ·M is p × columns; its SVD gives M's through U = Q·U_B.
    let bt = multiply(m, transposingA: true, rows: columns, inner: rows, q, columns: p)
    let b = transpose(bt, rows: columns, columns: p)
    let (ub, s, v) = try gram(b, rows: p, columns: columns, keep: k)
    let u = multiply(q, rows: rows, inner: p, ub, columns: k)
    return TruncatedSVD(
      rows: rows, columns: columns, rank: k, u: u, singularValues: s, v: v,
      method: .subspace(steps: powerSteps, columns: p))
  }

  /// The Gram path: eigenvectors of the smaller Gram matrix, the other side recovered as `M·v/σ` or `Mᵀ·u/σ`.
  private static func gram(
    _ m: [Double], rows: Int, columns: Int, keep k: Int
  ) throws(GraftError) -> (u: [Double], s: [Double], v: [Double]) {
    let wide = columns > rows
    let n = wide ? rows : columns
    var g = [Double](repeating: 0, count: n * n)
    if wide {
      for i in 0..<rows {
        for j in i..<rows {
          var acc = 0.0
          for c in 0..<columns { acc += m[i * columns + c] * m[j * columns + c] }
          g[i * n + j] = acc
        }
      }
    } else {
      for r in 0..<rows {
        let row = r * columns
        for i in 0..<columns where m[row + i] != 0 {
          let x = m[row + i]
          for j in i..<columns { g[i * n + j] += x * m[row + j] }
        }
      }
    }
    let (values, vectors) = try SymmetricEigen.decompose(g, n: n)
    let largest = max(values.first ?? 0, 0).squareRoot()
    var s = [Double](repeating: 0, count: k)
    var near = [Double](repeating: 0, count: n * k)
    for t in 0..<k {
      s[t] = max(values[t], 0).squareRoot()
      for r in 0..<n { near[r * k + t] = vectors[r * n + t] }
    }
    // The other side: M·v/σ (or Mᵀ·u/σ); directions of σ ≈ 0 carry nothing and stay zero.
    let otherCount = wide ? columns : rows
    var far = [Double](repeating: 0, count: otherCount * k)
    for t in 0..<k where s[t] > largest * 1e-13 {
      for o in 0..<otherCount {
        var acc = 0.0
        for r in 0..<n { acc += (wide ? m[r * columns + o] : m[o * columns + r]) * near[r * k + t] }
        far[o * k + t] = acc / s[t]
      }
    }
    return wide ? (near, s, far) : (far, s, near)
  }

  /// The `rows × columns` product `a·b` for row-major `b` (`inner × columns`) and row-major `a` stored `rows × inner`,
  /// or, with `transposingA`, stored `inner × rows` (the product is then `aᵀ·b`).
  ///
  /// `a` is walked in storage order either way; each output element sums its terms in `inner` order.
  static func multiply(
    _ a: [Double], transposingA: Bool = false, rows: Int, inner: Int, _ b: [Double], columns: Int
  ) -> [Double] {
    var out = [Double](repeating: 0, count: rows * columns)
    let (outer, stored) = transposingA ? (inner, rows) : (rows, inner)
    for s in 0..<outer {
      for t in 0..<stored where a[s * stored + t] != 0 {
        let x = a[s * stored + t]
        let (i, l) = transposingA ? (t, s) : (s, t)
        for j in 0..<columns { out[i * columns + j] += x * b[l * columns + j] }
      }
    }
    return out
  }

  static func transpose(_ a: [Double], rows: Int, columns: Int) -> [Double] {
    var out = [Double](repeating: 0, count: a.count)
    for i in 0..<rows {
      for j in 0..<columns { out[j * rows + i] = a[i * columns + j] }
    }
    return out
  }

  /// The columns of `a` made orthonormal (modified Gram–Schmidt, twice for stability); dependent columns become 0.
  static func orthonormalized(_ a: [Double], rows: Int, columns: Int) -> [Double] {
    var q = a
    for _ in 0..<2 {
      for j in 0..<columns {
        for i in 0..<j {
          var dot = 0.0
          for r in 0..<rows { dot += q[r * columns + i] * q[r * columns + j] }
          for r in 0..<rows { q[r * columns + j] -= dot * q[r * columns + i] }
        }
        var norm = 0.0
        for r in 0..<rows { norm += q[r * columns + j] * q[r * columns + j] }
        norm = norm.squareRoot()
        for r in 0..<rows { q[r * columns + j] = norm > 1e-300 ? q[r * columns + j] / norm : 0 }
      }
    }
    return q
  }
}
