/// Bicubic resampling of a grid of position embeddings, as timm's `resample_abs_pos_embed` (PyTorch's
/// `F.interpolate(mode='bicubic', align_corners=False)`, with or without `antialias`; timm's default is with).
///
/// Both forms are separable: each output row/column is a fixed weighted sum of input rows/columns, so the weights
/// are computed once per axis (in Float64) and applied along height, then width.
public enum PositionEmbeddingResampling {
  /// Resamples `grid` (`[old[0] × old[1] × dim]`, row-major, one embedding per cell) to `new[0] × new[1]` cells.
  public static func resample(_ grid: [Float], from old: [Int], to new: [Int], dim: Int, antialias: Bool) -> [Float] {
    let (h0, w0, h1, w1) = (old[0], old[1], new[0], new[1])
    let rows = weights(from: h0, to: h1, antialias: antialias)
    let cols = weights(from: w0, to: w1, antialias: antialias)
    // Along height: [h1 × w0 × dim].
    var tall = [Double](repeating: 0, count: h1 * w0 * dim)
    for i in 0..<h1 {
      for (source, weight) in rows[i] {
        let inBase = source * w0 * dim
        let outBase = i * w0 * dim
        for k in 0..<(w0 * dim) { tall[outBase + k] += weight * Double(grid[inBase + k]) }
      }
    }
    var out = [Float](repeating: 0, count: h1 * w1 * dim)
    for i in 0..<h1 {
      for j in 0..<w1 {
        let outBase = (i * w1 + j) * dim
        var acc = [Double](repeating: 0, count: dim)
        for (source, weight) in cols[j] {
          let inBase = (i * w0 + source) * dim
          for c in 0..<dim { acc[c] += weight * tall[inBase + c] }
        }
        for c in 0..<dim { out[outBase + c] = Float(acc[c]) }
      }
    }
    return out
  }

  /// For each output index, the (input index, weight) pairs along one axis.
  static func weights(from input: Int, to output: Int, antialias: Bool) -> [[(Int, Double)]] {
    let scale = Double(input) / Double(output)
    var result: [[(Int, Double)]] = []
    for i in 0..<output {
      var taps: [(Int, Double)] = []
      if antialias {
        // PyTorch's separable antialiased kernel (PIL's): Keys a = −0.5, support widened by the scale when shrinking,
        // weights normalised to sum 1.
        let support = scale >= 1 ? 2 * scale : 2
        let inverse = scale >= 1 ? 1 / scale : 1
        let center = scale * (Double(i) + 0.5)
        let lo = max(Int(center - support + 0.5), 0)
        let hi = min(Int(center + support + 0.5), input)
        var total = 0.0
        for j in lo..<max(lo, hi) {
          let w = keys(abs((Double(j) - center + 0.5) * inverse), a: -0.5)
          taps.append((j, w))
          total += w
        }
        if total != 0 { taps = taps.map { ($0.0, $0.1 / total) } }
      } else {
        // PyTorch's plain bicubic: Keys a = −0.75 on the 4 neighbours, indices clamped to the border.
        let real = scale * (Double(i) + 0.5) - 0.5
        let floor = real.rounded(.down)
        let t = real - floor
        let base = Int(floor)
        let coefficients = [keys(t + 1, a: -0.75), keys(t, a: -0.75), keys(1 - t, a: -0.75), keys(2 - t, a: -0.75)]
        for (k, w) in coefficients.enumerated() { taps.append((min(max(base - 1 + k, 0), input - 1), w)) }
      }
      result.append(taps)
    }
    return result
  }

  /// Keys' cubic convolution kernel at distance `x ≥ 0`.
  static func keys(_ x: Double, a: Double) -> Double {
    if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
    if x < 2 { return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }
    return 0
  }
}
