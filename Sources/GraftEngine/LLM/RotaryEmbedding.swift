import GraftCore

/// Hugging Face rotary position embeddings: inverse frequencies of every RoPE type, cos/sin tables, rotate-half.
///
/// Each step follows transformers' float32 arithmetic (`modeling_rope_utils.py`, `LlamaRotaryEmbedding.forward`):
/// `inv[i] = 1 / θ^(2i/D)` with the power taken in Float32, the type's scaling applied in Float32, `freq = pos · inv`,
/// and `cos`/`sin` of the Float32 angle times the attention scaling (yarn only).
struct RotaryEmbedding: Sendable {
  let headDim: Int
  let theta: Double
  let scaling: LLMConfiguration.RoPE.Scaling
  /// `max_position_embeddings`, where dynamic NTK scaling starts.
  let maxPositions: Int
  /// The inverse frequencies for every sequence length (all types but `dynamic` beyond `maxPositions`).
  let baseInverseFrequencies: [Float]
  /// Multiplies cos and sin (yarn's attention factor; 1 otherwise).
  let attentionScaling: Float

  init(configuration c: LLMConfiguration) {
    headDim = c.headDim
    theta = c.rope.theta
    scaling = c.rope.scaling
    maxPositions = c.maxPositionEmbeddings
    let dim = c.headDim
    let plain = Self.powers(base: c.rope.theta, dim: dim).map { 1 / $0 }
    switch c.rope.scaling {
    case .none, .dynamic:
      baseInverseFrequencies = plain
      attentionScaling = 1
    case .linear(let factor):
      baseInverseFrequencies = plain.map { $0 / Float(factor) }
      attentionScaling = 1
    case .llama3(let factor, let low, let high, let original):
      baseInverseFrequencies = Self.llama3(plain, factor: factor, low: low, high: high, original: original)
      attentionScaling = 1
    case .yarn(let factor, let original, let fast, let slow, let attention, let truncate):
      baseInverseFrequencies = Self.yarn(
        base: c.rope.theta, dim: dim, factor: factor, original: original, fast: fast, slow: slow, truncate: truncate)
      attentionScaling = Float(attention)
    }
  }

  /// `θ^(2i/dim)` for i < dim/2, with the exponent and the power in Float32 as torch computes `base ** tensor`.
  static func powers(base: Double, dim: Int) -> [Float] {
    let b = Double(Float(base))
    return (0..<(dim / 2)).map { i in
      let exponent = Float(2 * i) / Float(dim)
      return Float(Elementary.pow(b, Double(exponent)))
    }
  }

  /// `_compute_llama3_parameters`, operation by operation in Float32.
  static func llama3(_ inv: [Float], factor: Double, low: Double, high: Double, original: Int) -> [Float] {
    let f = Float(factor)
    let lowWavelength = Float(Double(original) / low)
    let highWavelength = Float(Double(original) / high)
    let twoPi = Float(2 * Double.pi)
    return inv.map { x in
      let wavelength = twoPi / x
      let scaled = wavelength > lowWavelength ? x / f : x
      if wavelength < highWavelength || wavelength > lowWavelength { return scaled }
      let smooth = (Float(original) / wavelength - Float(low)) / (Float(high) - Float(low))
      return (1 - smooth) * scaled / f + smooth * scaled
    }
  }

  /// `_compute_yarn_parameters`: a linear ramp between interpolated and extrapolated frequencies.
  static func yarn(
    base: Double, dim: Int, factor: Double, original: Int, fast: Double, slow: Double, truncate: Bool
  ) -> [Float] {
    let p = powers(base: base, dim: dim)
    func correction(_ rotations: Double) -> Double {
      Double(dim) * Elementary.log(Double(original) / (rotations * 2 * Double.pi)) / (2 * Elementary.log(base))
    }
    var low = correction(fast)
    var high = correction(slow)
    if truncate {
      low = low.rounded(.down)
      high = high.rounded(.up)
    }
    low = max(low, 0)
    high = min(high, Double(dim - 1))
    if low == high { high += 0.001 }
    let f = Float(factor)
    return (0..<(dim / 2)).map { i in
      let ramp = min(max((Float(i) - Float(low)) / Float(high - low), 0), 1)
      let extrapolationFactor = 1 - ramp
      let extrapolated = 1 / p[i]
      let interpolated = 1 / (f * p[i])
      return interpolated * (1 - extrapolationFactor) + extrapolated * extrapolationFactor
    }
  }

  /// The inverse frequencies of a forward call whose largest position is `sequenceLength − 1`.
  ///
  /// Dynamic NTK recomputes θ from the call's length, as `dynamic_rope_update` does on every call that grows past
  /// `max_position_embeddings`; with a KV cache, earlier keys keep the frequencies of the call that computed them,
  /// exactly as in transformers' generate.
  func inverseFrequencies(sequenceLength: Int) -> [Float] {
    guard case .dynamic(let factor) = scaling, sequenceLength > maxPositions else { return baseInverseFrequencies }
    let dim = Double(headDim)
    let ratio = factor * Double(sequenceLength) / Double(maxPositions) - (factor - 1)
    let scaledBase = theta * Elementary.pow(ratio, dim / (dim - 2))
    return Self.powers(base: scaledBase, dim: headDim).map { 1 / $0 }
  }

  /// Fills `cos` and `sin` (`[count × headDim/2]`) for positions `start..<start+count`.
  func table(
    start: Int, count: Int, sequenceLength: Int, cos: UnsafeMutablePointer<Float>, sin: UnsafeMutablePointer<Float>
  ) {
    let inv = inverseFrequencies(sequenceLength: sequenceLength)
    let half = headDim / 2
    for t in 0..<count {
      let position = Float(start + t)
      for i in 0..<half {
        let angle = position * inv[i]
        let (s, c) = Elementary.sinCos(Double(angle))
        cos[t * half + i] = Float(c) * attentionScaling
        sin[t * half + i] = Float(s) * attentionScaling
      }
    }
  }

  /// Rotates `heads` consecutive heads of one row in place: `x' = x·cos + rotate_half(x)·sin`.
  @inline(__always)
  static func rotate(
    _ x: UnsafeMutablePointer<Float>, heads: Int, headDim: Int, cos: UnsafePointer<Float>, sin: UnsafePointer<Float>
  ) {
    let half = headDim / 2
    for h in 0..<heads {
      let a = x + h * headDim
      let b = a + half
      for i in 0..<half {
        let x1 = a[i]
        let x2 = b[i]
        a[i] = x1 * cos[i] - x2 * sin[i]
        b[i] = x2 * cos[i] + x1 * sin[i]
      }
    }
  }
}
