import GraftCore

/// Activation statistics of one dense MLP, gathered on calibration or synthetic inputs (MoE-Jetpack's
/// `feature_analysis`, accumulated streaming).
///
/// Hidden-unit statistics come from the MLP activation (`mlp.act`), channel statistics from the `norm2` output
/// (the MLP input); the threshold of the frequency and co-activation counts is 0, as in Jetpack.
public struct MoELayerStatistics: Sendable {
  /// Tokens seen.
  public var tokens: Int
  /// `Σ|a_i|` per hidden unit.
  public var l1: [Double]
  /// `sqrt(Σ a_i²)` per hidden unit.
  public var l2: [Double]
  /// `Σ 1[a_i > 0]` per hidden unit.
  public var frequency: [Double]
  /// `Σ 1[a_i > 0]·1[a_j > 0]`, `h × h` row-major, or `nil` when not gathered.
  public var coactivation: [Double]?
  /// `sqrt(Σ x_c²)` per channel of the `norm2` output.
  public var channelL2: [Double]
  /// `Σ|x_c|` per channel of the `norm2` output.
  public var channelL1: [Double]

  /// Creates statistics.
  public init(
    tokens: Int, l1: [Double], l2: [Double], frequency: [Double], coactivation: [Double]?, channelL1: [Double],
    channelL2: [Double]
  ) {
    self.tokens = tokens
    self.l1 = l1
    self.l2 = l2
    self.frequency = frequency
    self.coactivation = coactivation
    self.channelL1 = channelL1
    self.channelL2 = channelL2
  }
}

/// Data-free importance and co-activation proxies computed from the weights alone (reference §11.2).
public enum MoEDataFree {
  /// `‖W1[i,:]‖·‖W2[:,i]‖` per hidden unit.
  public static func weightProduct(w1: [Float], w2: [Float], hidden h: Int, width d: Int) -> [Double] {
    var out = [Double](repeating: 0, count: h)
    var col = [Double](repeating: 0, count: h)
    for r in 0..<d {
      for i in 0..<h {
        let v = Double(w2[r * h + i])
        col[i] += v * v
      }
    }
    for i in 0..<h {
      var row = 0.0
      for j in 0..<d {
        let v = Double(w1[i * d + j])
        row += v * v
      }
      out[i] = row.squareRoot() * col[i].squareRoot()
    }
    return out
  }

  /// `E|GELU(u_i)|` for `u_i ~ N(w_i·β + b_i, ‖w_i⊙γ‖²)`: the expected activation magnitude when the MLP input is
  /// the preceding LayerNorm's affine map of a standard normal (`x = γ⊙z + β`), by 64-point quadrature.
  public static func expectedActivation(
    w1: [Float], b1: [Float]?, gamma: [Float]?, beta: [Float]?, hidden h: Int, width d: Int
  ) -> [Double] {
    // Fixed nodes on ±6σ with Gaussian weights: GELU is smooth, so the trapezoid rule is accurate to ~1e-6.
    let nodes = 64
    var zs: [Double] = []
    var ws: [Double] = []
    for k in 0..<nodes {
      let z = -6 + 12 * Double(k) / Double(nodes - 1)
      zs.append(z)
      ws.append(Elementary.exp(-z * z / 2))
    }
    let wsum = ws.reduce(0, +)
    var out = [Double](repeating: 0, count: h)
    for i in 0..<h {
      var mu = Double(b1?[i] ?? 0)
      var variance = 0.0
      for j in 0..<d {
        let w = Double(w1[i * d + j])
        mu += w * Double(beta?[j] ?? 0)
        let g = w * Double(gamma?[j] ?? 1)
        variance += g * g
      }
      let sigma = variance.squareRoot()
      var acc = 0.0
      for k in 0..<nodes { acc += ws[k] * abs(Elementary.gelu(mu + sigma * zs[k])) }
      out[i] = acc / wsum
    }
    return out
  }

  /// The correlation of pre-activations `(w_i⊙γ)·(w_j⊙γ) / (‖w_i⊙γ‖‖w_j⊙γ‖)`, clamped at 0, as a co-activation
  /// proxy (`h × h`, zero diagonal).
  public static func coactivationProxy(w1: [Float], gamma: [Float]?, hidden h: Int, width d: Int) -> [Double] {
    var rows = [Double](repeating: 0, count: h * d)
    for i in 0..<h {
      var n = 0.0
      for j in 0..<d {
        let v = Double(w1[i * d + j]) * Double(gamma?[j] ?? 1)
        rows[i * d + j] = v
        n += v * v
      }
      let inv = n > 0 ? 1 / n.squareRoot() : 0
      for j in 0..<d { rows[i * d + j] *= inv }
    }
    var a = [Double](repeating: 0, count: h * h)
    for i in 0..<h {
      for k in (i + 1)..<max(h, i + 1) {
        var s = 0.0
        for j in 0..<d { s += rows[i * d + j] * rows[k * d + j] }
        let v = max(s, 0)
        a[i * h + k] = v
        a[k * h + i] = v
      }
    }
    return a
  }
}
