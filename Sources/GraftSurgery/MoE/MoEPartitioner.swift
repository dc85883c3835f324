import GraftCore

/// Balanced graph partitioning and balanced clustering, written for the MoE passes (no METIS or scikit-learn).
///
/// Graphs are dense symmetric weight matrices (`n × n`, row-major): co-activation counts or their data-free proxy.
enum MoEPartitioner {
  /// Part sizes as equal as possible: the first `n % parts` parts get one more node.
  static func balancedSizes(_ n: Int, parts: Int) -> [Int] {
    (0..<parts).map { n / parts + ($0 < n % parts ? 1 : 0) }
  }

  /// Splits the nodes into parts of exactly `sizes` by recursive spectral bisection (Fiedler vector of the
  /// Laplacian, power iteration) refined by Kernighan–Lin swaps, so heavily co-activated nodes share a part.
  static func partitionGraph(_ a: [Double], n: Int, sizes: [Int]) -> [[Int]] {
    bisect(Array(0..<n), a: a, n: n, sizes: sizes)
  }

  private static func bisect(_ nodes: [Int], a: [Double], n: Int, sizes: [Int]) -> [[Int]] {
    if sizes.count == 1 { return [nodes.sorted()] }
    let half = sizes.count / 2
    let leftSize = sizes[..<half].reduce(0, +)
    let order = fiedlerOrder(nodes, a: a, n: n)
    var left = Array(order.prefix(leftSize))
    var right = Array(order.dropFirst(leftSize))
    refine(&left, &right, a: a, n: n)
    return bisect(left, a: a, n: n, sizes: Array(sizes[..<half]))
      + bisect(right, a: a, n: n, sizes: Array(sizes[half...]))
  }

  /// The nodes sorted by their Fiedler-vector entry (ties by node index).
  static func fiedlerOrder(_ nodes: [Int], a: [Double], n: Int) -> [Int] {
    let m = nodes.count
    guard m > 2 else { return nodes }
    var degree = [Double](repeating: 0, count: m)
    for (p, i) in nodes.enumerated() {
      for j in nodes where j != i { degree[p] += a[i * n + j] }
    }
    let shift = 2 * (degree.max() ?? 0) + 1
    // Power iteration on (shift·I − L), orthogonal to the constant vector, converges to the Fiedler vector.
    var v = (0..<m).map { p in Double((p * 7919 + 13) % 1009) / 1009 - 0.5 }
    func center(_ x: inout [Double]) {
      let mean = x.reduce(0, +) / Double(m)
      for p in 0..<m { x[p] -= mean }
      let norm = x.reduce(0) { $0 + $1 * $1 }.squareRoot()
      if norm > 0 { for p in 0..<m { x[p] /= norm } }
    }
    center(&v)
    for _ in 0..<80 {
      var w = [Double](repeating: 0, count: m)
      for (p, i) in nodes.enumerated() {
        var s = (shift - degree[p]) * v[p]
        for (q, j) in nodes.enumerated() where q != p { s += a[i * n + j] * v[q] }
        w[p] = s
      }
      center(&w)
      v = w
    }
    return (0..<m).sorted { v[$0] != v[$1] ? v[$0] < v[$1] : nodes[$0] < nodes[$1] }.map { nodes[$0] }
  }

  /// Kernighan–Lin refinement: swaps the best pair across the cut while the cut weight drops, keeping sizes.
  static func refine(_ left: inout [Int], _ right: inout [Int], a: [Double], n: Int) {
    guard !left.isEmpty, !right.isEmpty else { return }
    // D(v) = external − internal connection weight.
    func gain(_ v: Int, own: [Int], other: [Int]) -> Double {
      var ext = 0.0
      var int = 0.0
      for u in other { ext += a[v * n + u] }
      for u in own where u != v { int += a[v * n + u] }
      return ext - int
    }
    // Capped: each swap re-scores both sides (O(n²)); the first swaps carry almost all of the gain.
    let maxSwaps = min(left.count, right.count, 64)
    for _ in 0..<maxSwaps {
      let dl = left.map { gain($0, own: left, other: right) }
      let dr = right.map { gain($0, own: right, other: left) }
      let topL = left.indices.sorted { dl[$0] > dl[$1] }.prefix(16)
      let topR = right.indices.sorted { dr[$0] > dr[$1] }.prefix(16)
      var best: (g: Double, l: Int, r: Int)?
      for l in topL {
        for r in topR {
          let g = dl[l] + dr[r] - 2 * a[left[l] * n + right[r]]
          if g > 1e-12 && g > (best?.g ?? 0) { best = (g, l, r) }
        }
      }
      guard let best else { break }
      (left[best.l], right[best.r]) = (right[best.r], left[best.l])
    }
  }

  /// Balanced k-means on the L2-normalised rows of `points` (`n × d`), parts of exactly `sizes` (cosine distance,
  /// k-means++ seeding, greedy capacity-constrained assignment; MoEfication/LLaMA-MoE "clustering").
  static func balancedKMeans(
    _ points: [Float], n: Int, d: Int, sizes: [Int], random: inout SplitMix64, iterations: Int = 10
  ) -> [[Int]] {
    let k = sizes.count
    var x = points.map(Double.init)
    for i in 0..<n {
      var s = 0.0
      for j in 0..<d { s += x[i * d + j] * x[i * d + j] }
      let inv = s > 0 ? 1 / s.squareRoot() : 0
      for j in 0..<d { x[i * d + j] *= inv }
    }
    func dist(_ i: Int, _ c: [Double], _ e: Int) -> Double {
      var s = 0.0
      for j in 0..<d { s += x[i * d + j] * c[e * d + j] }
      return 1 - s
    }
    var centers = [Double](repeating: 0, count: k * d)
    var first = random.below(n)
    for j in 0..<d { centers[j] = x[first * d + j] }
    for e in 1..<max(k, 1) {
      var best = [Double](repeating: .infinity, count: n)
      for i in 0..<n {
        for c in 0..<e { best[i] = min(best[i], max(dist(i, centers, c), 0)) }
      }
      let total = best.reduce(0, +)
      if total > 0 {
        var u = random.uniform() * total
        first = n - 1
        for i in 0..<n {
          u -= best[i]
          if u < 0 {
            first = i
            break
          }
        }
      } else {
        first = random.below(n)
      }
      for j in 0..<d { centers[e * d + j] = x[first * d + j] }
    }
    var parts: [[Int]] = []
    for _ in 0..<iterations {
      var pairs: [(dist: Double, point: Int, cluster: Int)] = []
      pairs.reserveCapacity(n * k)
      for i in 0..<n {
        for e in 0..<k { pairs.append((dist(i, centers, e), i, e)) }
      }
      pairs.sort { ($0.dist, $0.point, $0.cluster) < ($1.dist, $1.point, $1.cluster) }
      var assigned = [Int](repeating: -1, count: n)
      var room = sizes
      for p in pairs where assigned[p.point] < 0 && room[p.cluster] > 0 {
        assigned[p.point] = p.cluster
        room[p.cluster] -= 1
      }
      parts = (0..<k).map { e in (0..<n).filter { assigned[$0] == e } }
      for e in 0..<k {
        var c = [Double](repeating: 0, count: d)
        for i in parts[e] { for j in 0..<d { c[j] += x[i * d + j] } }
        let norm = c.reduce(0) { $0 + $1 * $1 }.squareRoot()
        for j in 0..<d { centers[e * d + j] = norm > 0 ? c[j] / norm : 0 }
      }
    }
    return parts
  }
}
