public import GraftCore

/// MoE-Jetpack's dual-path soft MoE (`DualPathSoftMoELayerWrapper`, "SpheroMoE"), one slot per expert or more.
///
/// Per image: `K = l2norm(x)`, `Q = l2norm(slot_norm(phi))`, `L = K·Qᵀ` (`[tokens, E·s]`); dispatch
/// `D = softmax_tokens(L / scales[0] + ε)`, combine `C = entmax15_slots(L / scales[1] + ε)`; slots `Dᵀx` go to the
/// core experts (the first `coreExperts·s` slots) and the universal experts, and `y = C·outputs`. The layer mixes
/// tokens of one image, so it needs the sequence length to split the rows it receives into images.
public struct SpheroMoELayer: FeedForwardLayer {
  /// The slot queries `phi` `[E, s, d]`, flattened.
  public let phi: [Float]
  /// The number of experts `E` (core + universal).
  public let expertCount: Int
  /// Slots per expert.
  public let slotsPerExpert: Int
  /// The core experts (first in slot order).
  public let coreExperts: [MoEExpert]
  /// The universal experts.
  public let universalExperts: [MoEExpert]
  /// The dispatch and combine temperatures (`scales.0`, `scales.1`).
  public let scales: (dispatch: Float, combine: Float)
  /// The LayerNorm applied to `phi` before its l2 normalisation (`slot_norm`), if any.
  public let slotNorm: LayerNorm?
  /// Tokens per image.
  public let tokens: Int
  /// The expert activation.
  public let activation: Activation
  /// Logit noise: `nil` for none, else `(seed, multiplier)`; the draw is Graft's own, not PyTorch's.
  public let noise: (seed: UInt64, multiplier: Float)?

  /// The input and output width.
  public let width: Int

  /// Creates a layer.
  public init(
    phi: [Float], expertCount: Int, slotsPerExpert: Int, width: Int, coreExperts: [MoEExpert],
    universalExperts: [MoEExpert], scales: (dispatch: Float, combine: Float), slotNorm: LayerNorm?, tokens: Int,
    activation: Activation, noise: (seed: UInt64, multiplier: Float)? = nil
  ) {
    self.phi = phi
    self.expertCount = expertCount
    self.slotsPerExpert = slotsPerExpert
    self.width = width
    self.coreExperts = coreExperts
    self.universalExperts = universalExperts
    self.scales = scales
    self.slotNorm = slotNorm
    self.tokens = tokens
    self.activation = activation
    self.noise = noise
  }

  /// The normalised queries `l2norm(slot_norm(phi))`, `[E·s, d]`.
  func queries() -> [Float] {
    let d = width
    let n = expertCount * slotsPerExpert
    var q = phi
    q.withUnsafeMutableBufferPointer { qb in
      guard let qp = qb.baseAddress else { return }
      slotNorm?.apply(qp, rows: n, into: qp)
      for r in 0..<n { SpheroMoELayer.l2normalize(qp + r * d, count: d) }
    }
    return q
  }

  /// `x / (‖x‖ + 1e-6)` in place, as Jetpack's `l2norm`.
  static func l2normalize(_ x: UnsafeMutablePointer<Float>, count: Int) {
    var s: Float = 0
    for j in 0..<count { s += x[j] * x[j] }
    let inv = 1 / (s.squareRoot() + 1e-6)
    for j in 0..<count { x[j] *= inv }
  }

  /// Computes the layer, optionally adding to `y`; `rows` must be a multiple of ``tokens``.
  public func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, accumulate: Bool) {
    let d = width
    let n = tokens
    let slots = expertCount * slotsPerExpert
    if !accumulate { y.update(repeating: 0, count: rows * d) }
    guard n > 0, rows % n == 0 else { return }
    let q = queries()
    var rng = SplitMix64(seed: noise?.seed ?? 0)
    for b in 0..<(rows / n) {
      let xb = x + b * n * d
      // Logits [n, slots] from l2-normalised tokens against the normalised queries.
      var keys = Array(UnsafeBufferPointer(start: xb, count: n * d))
      keys.withUnsafeMutableBufferPointer { kb in
        guard let kp = kb.baseAddress else { return }
        for t in 0..<n { SpheroMoELayer.l2normalize(kp + t * d, count: d) }
      }
      var logits = [Float](repeating: 0, count: n * slots)
      for t in 0..<n {
        for s in 0..<slots {
          var acc: Float = 0
          for j in 0..<d { acc += keys[t * d + j] * q[s * d + j] }
          logits[t * slots + s] = acc
        }
      }
      var dispatch = logits.map { $0 / scales.dispatch }
      var combine = logits.map { $0 / scales.combine }
      if let noise {
        for i in logits.indices {
          let e = rng.normalFloat() * noise.multiplier
          dispatch[i] += e
          combine[i] += e
        }
      }
      // Dispatch: softmax over tokens, per slot.
      for s in 0..<slots {
        var m = -Float.infinity
        for t in 0..<n { m = Swift.max(m, dispatch[t * slots + s]) }
        var total: Float = 0
        for t in 0..<n {
          let e = Float(Elementary.exp(Double(dispatch[t * slots + s] - m)))
          dispatch[t * slots + s] = e
          total += e
        }
        for t in 0..<n { dispatch[t * slots + s] /= total }
      }
      for t in 0..<n {
        let row = Array(combine[(t * slots)..<((t + 1) * slots)])
        let weights = Entmax15.apply(row)
        for s in 0..<slots { combine[t * slots + s] = weights[s] }
      }
      // Slot inputs Dᵀx: [slots, d].
      var slotInputs = [Float](repeating: 0, count: slots * d)
      for t in 0..<n {
        for s in 0..<slots {
          let w = dispatch[t * slots + s]
          for j in 0..<d { slotInputs[s * d + j] += w * xb[t * d + j] }
        }
      }
      var slotOutputs = [Float](repeating: 0, count: slots * d)
      let experts = coreExperts + universalExperts
      let sp = slotsPerExpert
      slotInputs.withUnsafeBufferPointer { ib in
        slotOutputs.withUnsafeMutableBufferPointer { ob in
          guard let ip = ib.baseAddress, let op = ob.baseAddress else { return }
          for (e, expert) in experts.enumerated() {
            expert.apply(ip + e * sp * d, rows: sp, activation: activation, into: op + e * sp * d)
          }
        }
      }
      let yb = y + b * n * d
      for t in 0..<n {
        for s in 0..<slots {
          let w = combine[t * slots + s]
          if w == 0 { continue }
          for j in 0..<d { yb[t * d + j] += w * slotOutputs[s * d + j] }
        }
      }
    }
  }

  /// Runs the layer on `[batch, tokens, width]`.
  ///
  /// - Throws: `invalidArgument` when the shape does not fit.
  public func forward(_ x: FloatTensor) throws(GraftError) -> FloatTensor {
    guard x.shape.last == width, x.count % Swift.max(tokens * width, 1) == 0 else {
      throw GraftError(
        .invalidArgument, "input of shape \(x.shape); expected [batch, \(tokens), \(width)]")
    }
    let rows = x.count / Swift.max(width, 1)
    let out = x.values.withUnsafeBufferPointer { xb in
      uninitializedFloats(rows * width) { y in
        if let xp = xb.baseAddress { apply(xp, rows: rows, into: y, accumulate: false) }
      }
    }
    return FloatTensor(unchecked: x.shape, values: out)
  }
}

/// The 1.5-entmax of the `entmax` package (`entmax15`, exact sort-based threshold).
public enum Entmax15 {
  /// Maps scores to a sparse probability vector: `y = max(z/2 − τ, 0)²` with `τ` chosen so that `Σy = 1`.
  public static func apply(_ scores: [Float]) -> [Float] {
    guard let m = scores.max() else { return [] }
    let z = scores.map { Double($0 - m) / 2 }
    let sorted = z.sorted(by: >)
    var sum = 0.0
    var sumSquares = 0.0
    var taus: [Double] = []
    var support = 0
    for (i, v) in sorted.enumerated() {
      let rho = Double(i + 1)
      sum += v
      sumSquares += v * v
      let mean = sum / rho
      let meanSquares = sumSquares / rho
      let ss = rho * (meanSquares - mean * mean)
      let delta = Swift.max((1 - ss) / rho, 0)
      let tau = mean - delta.squareRoot()
      taus.append(tau)
      if tau <= v { support += 1 }
    }
    let tau = taus[Swift.max(support, 1) - 1]
    return z.map { v in
      let c = Swift.max(v - tau, 0)
      return Float(c * c)
    }
  }
}
