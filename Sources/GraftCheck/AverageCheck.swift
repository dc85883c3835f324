public import GraftCore
public import GraftSurgery

/// Checks an average or interpolation element by element: at seeded positions of every tensor, the output must
/// equal the rule recomputed here from the inputs (one element at a time, in Float64, rounded once to the output
/// dtype) bit for bit; copied integer tensors must equal the last input's bytes.
public enum AverageCheck {
  /// Positions checked per tensor (plus the first and the last element).
  public static let samplesPerTensor = 16

  /// The rule being checked.
  public enum Rule: Sendable {
    /// `Σ θᵢ / N`, summed in input order then divided.
    case mean
    /// `Σ wᵢ·θᵢ`.
    case weighted([Double])
    /// `s0·a + s1·b` with per-tensor coefficients (linear: `1 − t`, `t`; SLERP from the tensors' angle).
    case interpolation(t: Double, method: CheckpointAverage.Method)
  }

  /// Verifies `output` against `inputs` under `rule` (`timm`: every tensor averaged, clamped and stored as float32).
  ///
  /// - Throws: `invalidModel` when a tensor cannot be read.
  public static func verify(
    inputs: [TensorTable], output: TensorTable, rule: Rule, timm: Bool = false, seed: UInt64 = 0
  ) throws(GraftError) -> CheckReport {
    guard let last = inputs.last, let first = inputs.first else {
      throw GraftError(.invalidArgument, "no inputs to check against")
    }
    var checked = 0
    var exact = 0
    var worst: (name: String, difference: Double)?
    var copied = 0
    var copyFailures: [String] = []
    var rng = SplitMix64(seed: seed)
    for e in first.storedEntries {
      guard let out = output[e.name] else {
        throw GraftError(.invalidModel, "missing from the output", tensor: e.name)
      }
      if !(e.tensor.dtype.isFloatingPoint || timm) {
        copied += 1
        let same = try last[e.name].map { t throws(GraftError) in try RawBytes.equal(out, t, name: e.name) } ?? false
        if !same { copyFailures.append(e.name) }
        continue
      }
      let n = e.tensor.elementCount
      var positions = Set([0, max(0, n - 1)])
      for _ in 0..<samplesPerTensor where n > 0 { positions.insert(Int(rng.next() % UInt64(n))) }
      let coefficients = try self.coefficients(rule, inputs: inputs, name: e.name)
      for p in positions.sorted() where p < n {
        var expected = 0.0
        for (k, t) in inputs.enumerated() {
          guard let tensor = t[e.name] else { continue }
          let x = try DeployTensors.doubles(tensor, elements: p..<(p + 1), name: e.name)[0]
          if case .mean = rule { expected += x } else { expected += coefficients[k] * x }
        }
        if case .mean = rule { expected /= Double(inputs.count) }
        if timm {
          expected = min(max(expected, -Double(Float.greatestFiniteMagnitude)), Double(Float.greatestFiniteMagnitude))
        }
        let want = try DeployTensors.doubles(
          try DeployTensors.stored([expected], dtype: out.dtype, shape: [1]), name: e.name)[0]
        let got = try DeployTensors.doubles(out, elements: p..<(p + 1), name: e.name)[0]
        checked += 1
        if want.bitPattern == got.bitPattern || want == got {
          exact += 1
        } else if worst.map({ abs(want - got) > $0.difference }) ?? true {
          worst = (e.name, abs(want - got))
        }
      }
    }
    var rows = [
      CheckReport.Row(
        "sampled elements", exact == checked ? .passed : .failed,
        ["count": .integer(checked), "differing": .integer(checked - exact)],
        note: worst.map { "worst: \($0.name), |Δ| = \(Format.scientific($0.difference))" }
          ?? "every sampled element equals the rule recomputed from the inputs")
    ]
    if copied > 0 {
      rows.append(
        CheckReport.Row(
          "integer tensors from last", copyFailures.isEmpty ? .passed : .failed,
          ["count": .integer(copied), "differing": .integer(copyFailures.count)],
          note: copyFailures.isEmpty
            ? "byte-identical to the last checkpoint's" : copyFailures.prefix(4).joined(separator: ", ")))
    }
    return CheckReport(
      kind: "average",
      header: [
        "\(inputs.count) checkpoints, \(first.count) tensors: keys, shapes and dtypes agree; up to "
          + "\(samplesPerTensor + 2) seeded positions per tensor recomputed in float64 (seed \(seed)), bound: bit-identical"
      ],
      columns: [.init("count", "checked", width: 8), .init("differing", "differing", width: 9)], rows: rows)
  }

  /// The per-input factors of `rule` for one tensor.
  private static func coefficients(_ rule: Rule, inputs: [TensorTable], name: String) throws(GraftError) -> [Double] {
    switch rule {
    case .mean: return []
    case .weighted(let w): return w
    case .interpolation(let t, let method):
      guard method == .slerp, let a = inputs.first?[name], let b = inputs.last?[name] else { return [1 - t, t] }
      let c = try CheckpointAverage.slerpCoefficients(a, b, t: t, name: name)
      return c.map { [$0.0, $0.1] } ?? [1 - t, t]
    }
  }
}
