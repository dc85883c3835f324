public import GraftCore
public import GraftEngine

/// Runs two decoder-only language models on the same token sequences and compares every layer's output, the
/// logits, and the next-token distributions (top-1 agreement, KL divergence).
///
/// A tensor passes when `max|after − before| ≤ atol + rtol · max|before|`, as in ``ModelCheck``. The defaults,
/// `rtol = 1e-4` and `atol = 1e-5`, sit above the Float32 reassociation of equivalent weights (an upcycled copy of a
/// dense model: ≈ 1e-7 of the logits' scale, because the renormalised top-k weights sum to 1 within an ulp) and far
/// below a BF16 cast of the weights (≈ 1e-2): exact surgery passes, lossy surgery must loosen `rtol`. KL divergence
/// and top-1 agreement are shown for every position's distribution; they inform, the bound decides.
public enum LLMCheck {
  /// How the models run and are judged.
  public struct Options: Sendable {
    /// Sequences in the seeded batch.
    public var batch = 2
    /// Tokens per seeded sequence.
    public var length = 16
    /// The seed of the token ids.
    public var seed: UInt64 = 0
    /// Token sequences to run instead of the seeded batch (equal lengths).
    public var tokens: [[Int32]]?
    /// The absolute tolerance.
    public var atol = 1e-5
    /// The tolerance relative to `max|before|`.
    public var rtol = 1e-4
    /// Whether every layer's output is compared as well as the logits.
    public var compareHiddenStates = true
    /// Creates the documented defaults.
    public init() {}
  }

  /// The model comparison's columns plus the next-token figures of the logits row.
  public static let columns: [CheckReport.Column] =
    ModelCheck.columns + [
      .init("nmse", "NMSE", width: 10), .init("kl_mean", "KL mean", width: 10), .init("kl_max", "KL max", width: 10),
    ]

  /// `batch` sequences of `length` token ids, uniform below `vocabulary` (SplitMix64 of `seed`).
  public static func seededTokens(batch: Int, length: Int, vocabulary: Int, seed: UInt64) -> [[Int32]] {
    var rng = SplitMix64(seed: seed)
    return (0..<max(1, batch)).map { _ in
      (0..<max(1, length)).map { _ in Int32(truncatingIfNeeded: rng.next() % UInt64(max(1, vocabulary))) }
    }
  }

  /// Builds both models from their tables and configurations and compares them.
  ///
  /// - Throws: `invalidModel` when a model does not build (naming the side, or the table's file);
  ///   `invalidArgument` for token ids outside a vocabulary.
  public static func compare(
    before: (table: TensorTable, configuration: LLMConfiguration),
    after: (table: TensorTable, configuration: LLMConfiguration), options: Options = Options()
  ) throws(GraftError) -> CheckReport {
    let a = try build(before.table, before.configuration, side: "before")
    let b = try build(after.table, after.configuration, side: "after")
    return try compare(before: a, after: b, options: options)
  }

  /// Compares two built models.
  public static func compare(
    before: CausalLM, after: CausalLM, options: Options = Options()
  ) throws(GraftError) -> CheckReport {
    let vocabulary = min(before.configuration.vocabularySize, after.configuration.vocabularySize)
    let tokens =
      options.tokens
      ?? seededTokens(batch: options.batch, length: options.length, vocabulary: vocabulary, seed: options.seed)
    let described =
      options.tokens == nil
      ? "seeded token ids [\(tokens.count), \(tokens.first?.count ?? 0)] < \(vocabulary), seed \(options.seed)"
      : "given token ids [\(tokens.count), \(tokens.first?.count ?? 0)]"
    let clock = ContinuousClock()
    let start = clock.now
    let outBefore = try run(before, tokens, side: "before", hidden: options.compareHiddenStates)
    let middle = clock.now
    let outAfter = try run(after, tokens, side: "after", hidden: options.compareHiddenStates)
    var report = CheckReport(
      kind: "llm",
      header: [
        "input: \(described); a tensor passes when max|Δ| ≤ bound = \(Format.scientific(options.atol)) + "
          + "\(Format.scientific(options.rtol)) · max|before|; KL(before‖after) per next-token distribution"
      ],
      columns: columns)
    if options.compareHiddenStates {
      let n = max(outBefore.hiddenStates.count, outAfter.hiddenStates.count)
      for i in 0..<n {
        let x = i < outBefore.hiddenStates.count ? outBefore.hiddenStates[i] : nil
        let y = i < outAfter.hiddenStates.count ? outAfter.hiddenStates[i] : nil
        let c =
          if let x, let y { TensorComparison(before: x, after: y) } else {
            TensorComparison([], [0], shapeBefore: x?.shape, shapeAfter: y?.shape)
          }
        var row = ModelCheck.row("layer.\(i)", c, atol: options.atol, rtol: options.rtol)
        if x == nil || y == nil { row.note = "present only \(x == nil ? "after" : "before") (depth differs)" }
        report.rows.append(row)
      }
    }
    report.rows.append(logitsRow(outBefore.logits, outAfter.logits, options: options))
    report.facts["input"] = .string(described)
    report.facts["atol"] = .double(options.atol)
    report.facts["rtol"] = .double(options.rtol)
    report.facts["seconds_before"] = .double(ModelCheck.seconds(start.duration(to: middle)))
    report.facts["seconds_after"] = .double(ModelCheck.seconds(middle.duration(to: clock.now)))
    report.facts["family_before"] = .string(before.configuration.family.rawValue)
    report.facts["family_after"] = .string(after.configuration.family.rawValue)
    return report
  }

  /// The logits row: the bound on max|Δ|, top-1 agreement and KL over every position.
  static func logitsRow(_ x: FloatTensor, _ y: FloatTensor, options: Options) -> CheckReport.Row {
    let v = x.shape.last ?? 1
    let flat = { (t: FloatTensor) in
      (try? FloatTensor(shape: [t.values.count / max(1, t.shape.last ?? 1), t.shape.last ?? 1], values: t.values)) ?? t
    }
    let c = TensorComparison(before: flat(x), after: flat(y), argmax: true)
    var row = ModelCheck.row("logits", c, atol: options.atol, rtol: options.rtol)
    guard c.shapeBefore == c.shapeAfter, v > 0 else { return row }
    var sum = 0.0
    var worst = 0.0
    let positions = x.values.count / v
    x.values.withUnsafeBufferPointer { p in
      y.values.withUnsafeBufferPointer { q in
        for r in 0..<positions {
          let kl = divergence(
            UnsafeBufferPointer(rebasing: p[(r * v)..<((r + 1) * v)]),
            UnsafeBufferPointer(rebasing: q[(r * v)..<((r + 1) * v)]))
          sum += kl
          worst = max(worst, kl.isNaN ? .infinity : kl)
        }
      }
    }
    row.values["nmse"] = .number(normalizedSquaredError(x.values, y.values), .scientific)
    row.values["kl_mean"] = .number(positions > 0 ? sum / Double(positions) : 0, .scientific)
    row.values["kl_max"] = .number(worst, .scientific)
    return row
  }

  /// Σ(after − before)² / Σ before² in Float64: the logits NMSE that llama.cpp's own comparison scripts report.
  static func normalizedSquaredError(_ before: [Float], _ after: [Float]) -> Double {
    var num = 0.0
    var den = 0.0
    for (b, a) in zip(before, after) {
      let d = Double(a) - Double(b)
      num += d * d
      den += Double(b) * Double(b)
    }
    return den > 0 ? num / den : (num == 0 ? 0 : .infinity)
  }

  /// KL(softmax(p) ‖ softmax(q)) in Float64, with log-sum-exp on both sides (non-negative up to rounding).
  public static func divergence(_ p: UnsafeBufferPointer<Float>, _ q: UnsafeBufferPointer<Float>) -> Double {
    func logSumExp(_ x: UnsafeBufferPointer<Float>) -> Double {
      let m = Double(x.max() ?? 0)
      var s = 0.0
      for v in x { s += Elementary.exp(Double(v) - m) }
      return m + Elementary.log(s)
    }
    let lp = logSumExp(p)
    let lq = logSumExp(q)
    var kl = 0.0
    for i in 0..<min(p.count, q.count) {
      let a = Double(p[i]) - lp
      kl += Elementary.exp(a) * (a - (Double(q[i]) - lq))
    }
    return max(0, kl)
  }

  static func build(_ table: TensorTable, _ c: LLMConfiguration, side: String) throws(GraftError) -> CausalLM {
    do { return try CausalLM(configuration: c, weights: table) } catch {
      if let source = table.source { throw error.inFile(source) }
      var e = error
      e.message = "the model \(side) the change: " + e.message
      throw e
    }
  }

  static func run(
    _ model: CausalLM, _ tokens: [[Int32]], side: String, hidden: Bool
  ) throws(GraftError) -> CausalLM.Output {
    do { return try model.forward(tokens: tokens, hiddenStates: hidden) } catch {
      var e = error
      e.message = "running the model \(side) the change: " + e.message
      throw e
    }
  }
}
