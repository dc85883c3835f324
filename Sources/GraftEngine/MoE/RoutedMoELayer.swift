public import GraftCore

/// A token-choice mixture-of-experts MLP: a linear router, routed experts, an optional always-on shared expert and
/// an optional output bias added once.
///
/// `y = Σ_{e∈A(x)} w_e(x)·expert_e(x) + shared(x) + b`, where the gate convention picks `A(x)` and `w_e`.
public struct RoutedMoELayer: FeedForwardLayer {
  /// The routed experts.
  public let experts: [MoEExpert]
  /// The router `[experts, width]` (PyTorch layout), applied to the MLP input.
  public let router: Linear
  /// Experts per token.
  public let topK: Int
  /// The gate convention.
  public let gate: MoEGate
  /// An always-on expert with weight 1 (DeepSeek-style, ungated).
  public let sharedExpert: MoEExpert?
  /// A bias added once (the dense `fc2.bias` of a partitioned MLP).
  public let outputBias: [Float]?
  /// The activation inside every expert.
  public let activation: Activation

  /// The input and output width.
  public var width: Int { router.inFeatures }

  /// Creates a layer.
  public init(
    experts: [MoEExpert], router: Linear, topK: Int, gate: MoEGate, sharedExpert: MoEExpert? = nil,
    outputBias: [Float]? = nil, activation: Activation
  ) {
    self.experts = experts
    self.router = router
    self.topK = topK
    self.gate = gate
    self.sharedExpert = sharedExpert
    self.outputBias = outputBias
    self.activation = activation
  }

  /// The experts and weights each row is routed to.
  public func routes(_ x: UnsafePointer<Float>, rows: Int) -> [[(expert: Int, weight: Float)]] {
    let e = experts.count
    let logits = uninitializedFloats(rows * e) { router.apply(x, rows: rows, into: $0) }
    return (0..<rows).map { r in gate.route(logits: Array(logits[(r * e)..<((r + 1) * e)]), topK: topK) }
  }

  /// Computes the layer, optionally adding to `y`.
  public func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, accumulate: Bool) {
    let d = width
    if !accumulate { y.update(repeating: 0, count: rows * d) }
    guard rows > 0 else { return }
    let routing = routes(x, rows: rows)
    var assigned = [[(row: Int, weight: Float)]](repeating: [], count: experts.count)
    for (r, chosen) in routing.enumerated() {
      for c in chosen { assigned[c.expert].append((r, c.weight)) }
    }
    for (e, tokens) in assigned.enumerated() where !tokens.isEmpty {
      // Gathering the expert's rows keeps every expert a single GEMM, whatever the routing.
      let n = tokens.count
      let gathered = uninitializedFloats(n * d) { g in
        for (i, t) in tokens.enumerated() { (g + i * d).update(from: x + t.row * d, count: d) }
      }
      let out = gathered.withUnsafeBufferPointer { gb in
        uninitializedFloats(n * d) { o in
          if let gp = gb.baseAddress { experts[e].apply(gp, rows: n, activation: activation, into: o) }
        }
      }
      for (i, t) in tokens.enumerated() {
        let dst = y + t.row * d
        for j in 0..<d { dst[j] += t.weight * out[i * d + j] }
      }
    }
    if let sharedExpert {
      let out = uninitializedFloats(rows * d) { sharedExpert.apply(x, rows: rows, activation: activation, into: $0) }
      for i in 0..<(rows * d) { y[i] += out[i] }
    }
    if let outputBias {
      for r in 0..<rows {
        for j in 0..<d { y[r * d + j] += outputBias[j] }
      }
    }
  }

  /// Runs the layer on a `[rows, width]` tensor.
  ///
  /// - Throws: `invalidArgument` when the last dimension is not ``width``.
  public func forward(_ x: FloatTensor) throws(GraftError) -> FloatTensor {
    guard x.shape.last == width else {
      throw GraftError(.invalidArgument, "input of shape \(x.shape); expected last dimension \(width)")
    }
    let rows = x.count / Swift.max(width, 1)
    let out = x.values.withUnsafeBufferPointer { xb in
      uninitializedFloats(rows * width) { y in
        if let xp = xb.baseAddress { apply(xp, rows: rows, into: y, accumulate: false) }
      }
    }
    return FloatTensor(unchecked: x.shape, values: out)
  }

  /// The same layer with another gate convention or number of experts per token, for exactness checks.
  public func with(gate: MoEGate? = nil, topK: Int? = nil) -> RoutedMoELayer {
    RoutedMoELayer(
      experts: experts, router: router, topK: topK ?? self.topK, gate: gate ?? self.gate, sharedExpert: sharedExpert,
      outputBias: outputBias, activation: activation)
  }
}
