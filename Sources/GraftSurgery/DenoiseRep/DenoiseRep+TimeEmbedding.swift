public import GraftCore

extension DenoiseRep {
  /// The sinusoidal embedding `s(T)` of width `dimension`: sines of `T·ω_k` then cosines, `ω_k = 10000^(−k/(half−1))`.
  ///
  /// This is `SinusoidalPositionEmbeddings.forward` computed in float64 (PyTorch computes it in float32).
  public static func sinusoidalEmbedding(t: Int, dimension: Int) -> [Double] {
    let half = dimension / 2
    let scale = half > 1 ? 9.210_340_371_976_184 / Double(half - 1) : 0  // ln(10000)/(half−1)
    var out = [Double](repeating: 0, count: 2 * half)
    for k in 0..<half {
      let (s, c) = Elementary.sinCos(Double(t) * Elementary.exp(-Double(k) * scale))
      out[k] = s
      out[half + k] = c
    }
    return out
  }

  /// The time embedding `e(T) = W_t2·GELU(W_t1·s(T) + b_t1) + b_t2` from the layer's `time_mlp.1` and `time_mlp.3`.
  ///
  /// - Throws: `invalidModel` when a time-MLP tensor is missing or its shape does not chain `[D, S] → [D, D]` with
  ///   `D` the layer's input width.
  public static func timeEmbedding(for layer: Layer, t: Int, in table: TensorTable) throws(GraftError) -> [Double] {
    let d = layer.inFeatures
    let w1Name = layer.name("time_mlp.1.weight")
    guard let w1 = table[w1Name] else {
      throw GraftError(
        .invalidModel, "missing tensor; the exact mode needs the time MLP (expected [\(d), 2048])", tensor: w1Name)
    }
    guard w1.shape.count == 2, w1.shape[0] == d, w1.shape[1] >= 2, w1.shape[1] % 2 == 0 else {
      throw GraftError(
        .invalidModel, "has shape \(w1.shape); expected [\(d), S] with S even (the sinusoid width, 2048)",
        tensor: w1Name)
    }
    let s = w1.shape[1]
    let w1v = try DenoiseRepValues.doubles(w1, name: w1Name)
    let b1v = try vector(layer.name("time_mlp.1.bias"), count: d, in: table)
    let w2Name = layer.name("time_mlp.3.weight")
    guard let w2 = table[w2Name] else {
      throw GraftError(
        .invalidModel, "missing tensor; the exact mode needs the time MLP (expected [\(d), \(d)])",
        tensor: w2Name)
    }
    guard w2.shape == [d, d] else {
      throw GraftError(.invalidModel, "has shape \(w2.shape); expected [\(d), \(d)]", tensor: w2Name)
    }
    let w2v = try DenoiseRepValues.doubles(w2, name: w2Name)
    let b2v = try vector(layer.name("time_mlp.3.bias"), count: d, in: table)
    let sin = sinusoidalEmbedding(t: t, dimension: s)
    var hidden = [Double](repeating: 0, count: d)
    for r in 0..<d {
      var acc = b1v[r]
      for k in 0..<s { acc += w1v[r * s + k] * sin[k] }
      hidden[r] = Elementary.gelu(acc)
    }
    var e = [Double](repeating: 0, count: d)
    for r in 0..<d {
      var acc = b2v[r]
      for k in 0..<d { acc += w2v[r * d + k] * hidden[k] }
      e[r] = acc
    }
    return e
  }

  /// A 1-D tensor of `count` values as doubles.
  static func vector(_ name: String, count: Int, in table: TensorTable) throws(GraftError) -> [Double] {
    guard let tensor = table[name] else {
      throw GraftError(.invalidModel, "missing tensor; expected shape [\(count)]", tensor: name)
    }
    guard tensor.shape == [count] else {
      throw GraftError(.invalidModel, "has shape \(tensor.shape); expected [\(count)]", tensor: name)
    }
    return try DenoiseRepValues.doubles(tensor, name: name)
  }
}
