import GraftCore

/// How a new router `[E, d]` is initialised.
///
/// None of them changes whether a construction is exact: copies with renormalised top-k and partitions with all
/// experts on are exact for any router; the others never are.
public enum MoERouterInit: Sendable, Equatable, CustomStringConvertible {
  /// All zeros: every expert equally likely; top-k ties go to the lowest indices.
  case zero
  /// `N(0, σ²)` (flaxformer/OLMoE use σ = 0.02).
  case normal(Double)
  /// Orthonormal rows (or columns when `E > d`), torch `orthogonal_`-style, from a seeded normal matrix.
  case orthogonal
  /// The L2-normalised centroid of each expert's L2-normalised `fc1` rows (MoEfication "ParamCenter").
  case centroid

  /// Parses `zero`, `normal`, `normal:0.02`, `orthogonal`, `centroid`.
  public init?(parsing text: String) {
    switch text {
    case "zero": self = .zero
    case "orthogonal": self = .orthogonal
    case "centroid": self = .centroid
    case "normal": self = .normal(0.02)
    default:
      guard text.hasPrefix("normal:"), let s = Double(text.dropFirst(7)), s > 0 else { return nil }
      self = .normal(s)
    }
  }

  /// The name as it is parsed.
  public var description: String {
    switch self {
    case .zero: return "zero"
    case .normal(let s): return "normal:\(s)"
    case .orthogonal: return "orthogonal"
    case .centroid: return "centroid"
    }
  }

  /// The router rows, `[experts × width]` row-major.
  func make(experts: Int, width d: Int, sets: [[Int]], w1: [Float], random: inout SplitMix64) -> [Float] {
    switch self {
    case .zero:
      return [Float](repeating: 0, count: experts * d)
    case .normal(let sigma):
      return (0..<(experts * d)).map { _ in Float(random.normal() * sigma) }
    case .orthogonal:
      return Self.orthogonal(rows: experts, columns: d, random: &random)
    case .centroid:
      var out = [Float](repeating: 0, count: experts * d)
      for (e, set) in sets.enumerated() {
        var c = [Double](repeating: 0, count: d)
        for i in set {
          var n = 0.0
          for j in 0..<d { n += Double(w1[i * d + j]) * Double(w1[i * d + j]) }
          let inv = n > 0 ? 1 / n.squareRoot() : 0
          for j in 0..<d { c[j] += Double(w1[i * d + j]) * inv }
        }
        let norm = c.reduce(0) { $0 + $1 * $1 }.squareRoot()
        for j in 0..<d { out[e * d + j] = norm > 0 ? Float(c[j] / norm) : 0 }
      }
      return out
    }
  }

  /// A `rows × columns` matrix with orthonormal rows (rows ≤ columns) or orthonormal columns, by modified
  /// Gram–Schmidt of a seeded normal matrix.
  static func orthogonal(rows: Int, columns: Int, random: inout SplitMix64) -> [Float] {
    let tall = rows > columns
    let (vectors, length) = tall ? (columns, rows) : (rows, columns)
    var q = [[Double]](repeating: [], count: vectors)
    for v in 0..<vectors {
      var x = (0..<length).map { _ in random.normal() }
      for _ in 0..<2 {
        for u in 0..<v {
          var dot = 0.0
          for t in 0..<length { dot += x[t] * q[u][t] }
          for t in 0..<length { x[t] -= dot * q[u][t] }
        }
      }
      let n = x.reduce(0) { $0 + $1 * $1 }.squareRoot()
      q[v] = x.map { $0 / max(n, 1e-300) }
    }
    var out = [Float](repeating: 0, count: rows * columns)
    for v in 0..<vectors {
      for t in 0..<length {
        if tall { out[t * columns + v] = Float(q[v][t]) } else { out[v * columns + t] = Float(q[v][t]) }
      }
    }
    return out
  }
}
