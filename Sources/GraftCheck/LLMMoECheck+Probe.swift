import GraftCore
import GraftEngine
import GraftSurgery

extension LLMMoECheck {
  /// One sparse layer evaluated on seeded inputs: the dense MLP f, every expert, the router logits and the shared
  /// term, read from the tables a block of rows at a time.
  struct LayerProbe {
    var tokens: Int
    var hidden: Int
    var dense: [Float]
    var experts: [[Float]]
    var logits: [Float]
    var shared: [Float]?

    /// The layer's output with the top-`k` experts by softmax probability (ties: the lower index), weights
    /// renormalised or not, or every expert with weight 1/E, accumulated in expert order as transformers does.
    func combine(k: Int, normalize: Bool, uniform: Bool = false) -> [Float] {
      let e = experts.count
      var y = [Float](repeating: 0, count: tokens * hidden)
      for t in 0..<tokens {
        let weights = uniform ? Array(repeating: 1 / Float(e), count: e) : self.weights(t, k: k, normalize: normalize)
        for i in 0..<e where weights[i] != 0 {
          for j in 0..<hidden { y[t * hidden + j] += weights[i] * experts[i][t * hidden + j] }
        }
        if let shared { for j in 0..<hidden { y[t * hidden + j] += shared[t * hidden + j] } }
      }
      return y
    }

    /// `max|y − f| / max|f|`.
    func distance(_ y: [Float], to f: [Float]? = nil) -> Double {
      TensorComparison(f ?? dense, y).relative
    }
  }

  /// The exactness rows of one layer and the distance of the layer as written (its own router, k and gating).
  static func probe(
    dense: TensorTable, moe: TensorTable, layer plan0: LLMUpcycle.LayerPlan, plan: LLMUpcycle.Plan,
    configuration c: LLMConfiguration, identical: Set<String>, options: Options
  ) throws(GraftError) -> ([CheckReport.Row], Double) {
    let i = plan0.layer
    let name = "layer.\(i)"
    guard
      let p = try layerProbe(
        dense: dense, moe: moe, layer: i, plan: plan, configuration: c, identical: identical, options: options)
    else {
      return ([row(name, .exact, .infinity, limit: options.tolerance, note: "expert tensors missing")], .infinity)
    }
    let tol = options.tolerance
    let normalize = c.mixtureOfExperts?.normalizeTopK ?? true
    let written = p.combine(k: plan.topK, normalize: normalize)
    let asWritten = p.distance(written)
    var rows: [CheckReport.Row] = []
    let modified = plan.dropRatio > 0 || plan.noise > 0
    let sharedLive = plan.sharedExpert == .dense
    switch plan.construction {
    case .copies where !modified:
      if normalize && !sharedLive {
        let worst = (1...plan.experts).map { p.distance(p.combine(k: $0, normalize: true)) }.max() ?? 0
        rows.append(
          row(
            name + " copies", .exact, worst, limit: tol,
            note: "renormalised top-k = dense for every k = 1…\(plan.experts)"))
      } else {
        // Predicted: y = (Σ_T w)·f + σ(g·x)·f_shared, from the weights the layer gives.
        var predicted = [Float](repeating: 0, count: p.tokens * p.hidden)
        let gateSums = p.weightSums(k: plan.topK, normalize: normalize)
        for t in 0..<p.tokens {
          for j in 0..<p.hidden {
            predicted[t * p.hidden + j] = gateSums[t] * p.dense[t * p.hidden + j] + (p.shared?[t * p.hidden + j] ?? 0)
          }
        }
        let err = p.distance(written, to: predicted)
        rows.append(
          row(
            name + " predicted", .predicted, err, limit: tol,
            note: (normalize ? "" : "top-k not renormalised: ") + "y = (Σ_T w)·f"
              + (sharedLive ? " + σ(g·x)·f (dense shared expert)" : "") + "; distance to dense "
              + MoECheck.format(asWritten)))
      }
    case .partition where !modified:
      let all = p.distance(p.combine(k: plan.experts, normalize: true, uniform: true))
      let dtype = dense[LLMUpcycle.denseNames(i).down]?.dtype ?? .float32
      let scaleExact = plan.experts & (plan.experts - 1) == 0 || dtype == .float32
      let exact = scaleExact && !sharedLive
      rows.append(
        row(
          name + " partition", exact ? .exact : .report, all, limit: exact ? tol : nil,
          note: "all \(plan.experts) experts, weights 1/E, down × E: Σ_e f_Se = f"
            + (scaleExact ? "" : " (× \(plan.experts) rounds in \(dtype): not exact)")
            + (sharedLive ? " + the dense shared expert" : "")))
      rows.append(
        row(
          name + " top-\(plan.topK) as written", .report, asWritten, limit: nil,
          note: "coverage error of the experts not chosen (not exact unless k = E with equal logits)"))
    default:
      rows.append(
        row(
          name + " as written", .report, asWritten, limit: nil,
          note: (plan.dropRatio > 0 ? "Drop-Upcycling r = \(plan.dropRatio)" : "")
            + (plan.noise > 0 ? (plan.dropRatio > 0 ? ", " : "") + "noise σ = \(plan.noise)" : "")
            + ": not function-preserving by design"))
    }
    return (rows, asWritten)
  }

  /// Evaluates the layer; an expert proven byte-identical to the dense MLP (`identical` holds `"layer/expert"`) is
  /// not evaluated again: the same bytes through the same arithmetic give the dense output bit for bit.
  static func layerProbe(
    dense: TensorTable, moe: TensorTable, layer i: Int, plan: LLMUpcycle.Plan, configuration c: LLMConfiguration,
    identical: Set<String>, options: Options
  ) throws(GraftError) -> LayerProbe? {
    let t = max(1, options.probeRows)
    let h = plan.hidden
    let names = LLMUpcycle.denseNames(i)
    guard let g = dense[names.gate], let u = dense[names.up], let d = dense[names.down] else { return nil }
    let x = try inputs(dense: dense, layer: i, tokens: t, hidden: h, epsilon: c.rmsNormEpsilon, seed: options.seed)
    let act = c.activation
    let f = try LLMStreamed.gatedMLP(
      gate: LLMMatrixView(g, name: names.gate), up: LLMMatrixView(u, name: names.up),
      down: LLMMatrixView(d, name: names.down), x, tokens: t, activation: act)
    var experts: [[Float]] = []
    for e in 0..<plan.experts {
      guard let v = expertViews(moe, layer: i, expert: e, plan: plan) else { return nil }
      if identical.contains("\(i)/\(e)") {
        experts.append(f)
        continue
      }
      experts.append(try LLMStreamed.gatedMLP(gate: v.gate, up: v.up, down: v.down, x, tokens: t, activation: act))
    }
    let base = "model.layers.\(i)." + (plan.target == .mixtral && plan.layout == .v4 ? "block_sparse_moe." : "mlp.")
    guard let router = moe[base + "gate.weight"], router.shape == [plan.experts, h] else { return nil }
    let logits = try LLMStreamed.linear(LLMMatrixView(router, name: base + "gate.weight"), x, tokens: t)
    var shared: [Float]?
    if plan.target == .qwen2MoE {
      let s = base + "shared_expert."
      guard let sg = moe[s + "gate_proj.weight"], let su = moe[s + "up_proj.weight"],
        let sd = moe[s + "down_proj.weight"], let gate = moe[base + "shared_expert_gate.weight"]
      else { return nil }
      var out = try LLMStreamed.gatedMLP(
        gate: LLMMatrixView(sg, name: s + "gate_proj.weight"), up: LLMMatrixView(su, name: s + "up_proj.weight"),
        down: LLMMatrixView(sd, name: s + "down_proj.weight"), x, tokens: t, activation: act)
      let z = try LLMStreamed.linear(LLMMatrixView(gate, name: base + "shared_expert_gate.weight"), x, tokens: t)
      for r in 0..<t { for j in 0..<h { out[r * h + j] *= Elementary.sigmoid(z[r]) } }
      shared = out
    }
    return LayerProbe(tokens: t, hidden: h, dense: f, experts: experts, logits: logits, shared: shared)
  }

  /// Seeded Gaussian rows, RMS-normalised and multiplied by the layer's `post_attention_layernorm` weight: what the
  /// sparse block sees in the model.
  static func inputs(
    dense: TensorTable, layer i: Int, tokens: Int, hidden h: Int, epsilon: Double, seed: UInt64
  ) throws(GraftError) -> [Float] {
    var x = ModelCheck.randomInput(shape: [tokens, h], seed: seed ^ (UInt64(i) &* 0x9E37_79B9_7F4A_7C15)).values
    let normName = "model.layers.\(i).post_attention_layernorm.weight"
    let w = try dense[normName].map { t throws(GraftError) in try LLMStreamed.floats(t, name: normName) }
    for r in 0..<tokens {
      var s = 0.0
      for j in 0..<h { s += Double(x[r * h + j]) * Double(x[r * h + j]) }
      let inv = Float(1 / (s / Double(h) + epsilon).squareRoot())
      for j in 0..<h { x[r * h + j] *= inv * (w?[j] ?? 1) }
    }
    return x
  }
}

extension LLMMoECheck.LayerProbe {
  /// Token `t`'s combine weight per expert: softmax over all experts, top-k (ties: the lower index), renormalised or
  /// not; zero for experts not chosen.
  func weights(_ t: Int, k: Int, normalize: Bool) -> [Float] {
    let e = experts.count
    let z = (0..<e).map { Double(logits[t * e + $0]) }
    let m = z.max() ?? 0
    let ex = z.map { Elementary.exp($0 - m) }
    let total = ex.reduce(0, +)
    let p = ex.map { Float($0 / total) }
    let chosen = (0..<e).sorted { p[$0] != p[$1] ? p[$0] > p[$1] : $0 < $1 }.prefix(k)
    let sum = chosen.reduce(Float(0)) { $0 + p[$1] }
    var w = [Float](repeating: 0, count: e)
    for i in chosen { w[i] = normalize ? p[i] / sum : p[i] }
    return w
  }

  /// Per token, the sum of the top-k combine weights.
  func weightSums(k: Int, normalize: Bool) -> [Float] {
    (0..<tokens).map { weights($0, k: k, normalize: normalize).reduce(0, +) }
  }
}
