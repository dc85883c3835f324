import GraftCore
import GraftEngine
import GraftSurgery

extension LLMMoECheck {
  /// One expert's three projections as views of the output's tensors, whatever the layout.
  struct ExpertViews {
    var gate: LLMMatrixView
    var up: LLMMatrixView
    var down: LLMMatrixView
  }

  /// The views of expert `x` of layer `i`, or `nil` when a tensor is missing (the key row reports it).
  static func expertViews(
    _ moe: TensorTable, layer i: Int, expert x: Int, plan: LLMUpcycle.Plan
  ) -> ExpertViews? {
    let w = plan.expertWidth
    let h = plan.hidden
    if plan.layout == .v5Fused {
      let gu = "model.layers.\(i).mlp.experts.gate_up_proj"
      let dn = "model.layers.\(i).mlp.experts.down_proj"
      guard let a = moe[gu], let b = moe[dn], a.shape == [plan.experts, 2 * w, h], b.shape == [plan.experts, h, w]
      else { return nil }
      return ExpertViews(
        gate: LLMMatrixView(a, name: gu, rows: (x * 2 * w)..<(x * 2 * w + w), columns: h),
        up: LLMMatrixView(a, name: gu, rows: (x * 2 * w + w)..<((x + 1) * 2 * w), columns: h),
        down: LLMMatrixView(b, name: dn, rows: (x * h)..<((x + 1) * h), columns: w))
    }
    let mixtral = plan.target == .mixtral
    let p = "model.layers.\(i)." + (mixtral ? "block_sparse_moe.experts.\(x)." : "mlp.experts.\(x).")
    let names = mixtral ? ("w1", "w3", "w2") : ("gate_proj", "up_proj", "down_proj")
    let n = (p + names.0 + ".weight", p + names.1 + ".weight", p + names.2 + ".weight")
    guard let g = moe[n.0], let u = moe[n.1], let d = moe[n.2], g.shape == [w, h], u.shape == [w, h], d.shape == [h, w]
    else { return nil }
    return ExpertViews(
      gate: LLMMatrixView(g, name: n.0), up: LLMMatrixView(u, name: n.1), down: LLMMatrixView(d, name: n.2))
  }

  /// Non-expert tensors byte-identical, synthesised tensors zero, experts equal to their slice of the dense MLP.
  static func byteRows(
    dense: TensorTable, moe: TensorTable, configuration: LLMConfiguration, plan: LLMUpcycle.Plan
  ) throws(GraftError) -> (rows: [CheckReport.Row], identical: Set<String>) {
    var rows: [CheckReport.Row] = []
    var differing: [String] = []
    var compared = 0
    for name in moe.names where dense.contains(name) {
      guard let a = dense[name], let b = moe[name] else { continue }
      compared += 1
      if try !RawBytes.equal(a, b, name: name) { differing.append(name) }
    }
    rows.append(
      row(
        "non-expert tensors", .structural, Double(differing.count), limit: 0,
        note: differing.isEmpty
          ? "\(compared) tensors byte-identical to the dense model"
          : "differ: " + differing.prefix(3).joined(separator: ", ")))
    let added = moe.names.filter { !dense.contains($0) && $0.hasSuffix("_proj.bias") }
    if !added.isEmpty || !plan.synthesizedZeros.isEmpty {
      var nonZero = Set(plan.synthesizedZeros).symmetricDifference(added).sorted()
      for name in added {
        guard let t = moe[name] else { continue }
        if try !LLMStreamed.isPositiveZero(t, name: name) { nonZero.append(name) }
      }
      rows.append(
        row(
          "synthesised zeros", .structural, Double(nonZero.count), limit: 0,
          note: nonZero.isEmpty
            ? "\(added.count) q/k/v biases the target needs are all +0" : "not zero or not planned: \(nonZero[0])"))
    }
    let (slices, identical) = try sliceRow(dense: dense, moe: moe, plan: plan)
    rows.append(slices)
    if plan.target == .qwen2MoE { rows.append(try sharedRow(dense: dense, moe: moe, plan: plan)) }
    return (rows, identical)
  }

  /// Every expert row equal to the dense row (or column gather, times the partition scale) it was made from,
  /// except re-initialised positions; also the experts found byte-identical to the whole dense MLP, as
  /// `"layer/expert"` (their outputs are the dense MLP's, bit for bit).
  static func sliceRow(
    dense: TensorTable, moe: TensorTable, plan: LLMUpcycle.Plan
  ) throws(GraftError) -> (CheckReport.Row, identical: Set<String>) {
    var identical = Set<String>()
    guard plan.noise == 0 else {
      let row = row(
        "expert slices", .report, .nan, limit: nil,
        note: "not byte-comparable: noise σ = \(plan.noise) was added to every expert weight")
      return (row, identical)
    }
    var bad = 0
    var first: String?
    var checkedRows = 0
    for layer in plan.layers {
      let names = (
        "model.layers.\(layer.layer).mlp.gate_proj.weight", "model.layers.\(layer.layer).mlp.up_proj.weight",
        "model.layers.\(layer.layer).mlp.down_proj.weight"
      )
      guard let g = dense[names.0], let u = dense[names.1], let d = dense[names.2] else { continue }
      for x in 0..<plan.experts {
        guard let v = expertViews(moe, layer: layer.layer, expert: x, plan: plan) else {
          bad += 1
          first = first ?? "layer \(layer.layer) expert \(x): missing or misshapen"
          continue
        }
        let units = layer.expertUnits[x]
        let dropped = Set(layer.dropped[x])
        var same = units.count == plan.denseWidth && dropped.isEmpty && layer.downScale == 1
        let checks: [(LLMMatrixView, Tensor, String, Bool)] = [
          (v.gate, g, "gate", true), (v.up, u, "up", true), (v.down, d, "down", false),
        ]
        for (view, source, what, byRows) in checks {
          let wrong = try compareSlice(
            view, source: source, name: what == "gate" ? names.0 : what == "up" ? names.1 : names.2,
            units: units, byRows: byRows, scale: byRows ? 1 : layer.downScale, skip: dropped)
          checkedRows += view.rows.count
          if let wrong {
            same = false
            bad += 1
            first = first ?? "layer \(layer.layer) expert \(x) \(what) row \(wrong)"
          }
        }
        if same { identical.insert("\(layer.layer)/\(x)") }
      }
    }
    let droppedNote =
      plan.dropRatio > 0 ? "; Drop-Upcycling positions (r = \(plan.dropRatio)) re-initialised, not compared" : ""
    let row = row(
      "expert slices", .structural, Double(bad), limit: 0,
      note: first.map { "first difference: \($0)" }
        ?? "\(checkedRows) expert rows equal their dense rows" + (plan.construction == .copies ? "" : " (down × E)")
        + droppedNote)
    return (row, identical)
  }

  /// The first row of `view` that differs from what the plan says it holds, or `nil`.
  static func compareSlice(
    _ view: LLMMatrixView, source: Tensor, name: String, units: [Int], byRows: Bool, scale: Float, skip: Set<Int>
  ) throws(GraftError) -> Int? {
    let all = source.shape[byRows ? 0 : 1]
    let identity = units.count == all && units.first == 0 && units.last == all - 1 && scale == 1 && skip.isEmpty
    let size = source.dtype.byteWidth ?? 0
    if identity && view.tensor.dtype == source.dtype {
      let range = (view.rows.lowerBound * view.columns * size)..<(view.rows.upperBound * view.columns * size)
      return try RawBytes.equal(view.tensor, range, source, 0..<source.byteCount, name: view.name) ? nil : 0
    }
    let fetch = LLMRowFetcher(source, name: name)
    defer { source.bytes.discard(0..<source.byteCount) }
    var expected = [Float](repeating: 0, count: view.columns)
    var mismatch: Int?
    let positions = byRows ? Array(0..<view.columns) : units
    try LLMRowReader.forEachBlock(view.tensor, name: view.name, rows: view.rows, columns: view.columns) {
      first, n, values throws(GraftError) in
      guard mismatch == nil else { return }
      for r in 0..<n {
        let row = first - view.rows.lowerBound + r
        if byRows && skip.contains(row) { continue }
        let dense = try fetch.row(byRows ? units[row] : row)
        for (c, unit) in positions.enumerated() { expected[c] = dense[unit] * scale }
        if scale != 1 { try LLMRowFetcher.roundTrip(&expected, dtype: source.dtype) }
        for c in 0..<view.columns where !(!byRows && skip.contains(c)) {
          if values[r * view.columns + c].bitPattern != expected[c].bitPattern {
            mismatch = row
            return
          }
        }
      }
    }
    return mismatch
  }

  /// Qwen2-MoE's shared expert: the dense gate and up, the dense down or zeros, and a gate that is not all-zero.
  static func sharedRow(
    dense: TensorTable, moe: TensorTable, plan: LLMUpcycle.Plan
  ) throws(GraftError)
    -> CheckReport.Row
  {
    var bad: [String] = []
    for layer in plan.layers {
      let d = "model.layers.\(layer.layer).mlp."
      let s = d + "shared_expert."
      for (m, source) in [("gate_proj", "gate_proj"), ("up_proj", "up_proj"), ("down_proj", "down_proj")] {
        guard let out = moe[s + m + ".weight"], let src = dense[d + source + ".weight"] else {
          bad.append(s + m + ".weight missing")
          continue
        }
        if m == "down_proj" && plan.sharedExpert == .zero {
          if try !LLMStreamed.isPositiveZero(out, name: s + m) {
            bad.append(s + m + ".weight is not zero")
          }
        } else if try !RawBytes.equal(out, src, name: s + m) {
          bad.append(s + m + ".weight differs from the dense " + source)
        }
      }
      let gateName = d + "shared_expert_gate.weight"
      if let g = moe[gateName], try LLMStreamed.floats(g, name: gateName).allSatisfy({ $0 == 0 }) {
        bad.append(gateName + " is all zero (llama.cpp computes σ(z) as silu(z)/z: NaN)")
      }
    }
    return row(
      "shared expert", .structural, Double(bad.count), limit: 0,
      note: bad.first
        ?? (plan.sharedExpert == .dense
          ? "the dense MLP with a non-zero gate" : "dense gate/up, zero down, non-zero gate"))
  }
}

/// Reads single rows of a matrix as Float through reused buffers.
final class LLMRowFetcher {
  let tensor: Tensor
  let name: String
  let size: Int
  let columns: Int
  let raw: UnsafeMutableRawBufferPointer
  let values: UnsafeMutableBufferPointer<Float>

  init(_ tensor: Tensor, name: String) {
    self.tensor = tensor
    self.name = name
    size = tensor.dtype.byteWidth ?? 4
    columns = tensor.shape.last ?? 0
    raw = .allocate(byteCount: max(1, columns * size), alignment: 64)
    values = .allocate(capacity: max(1, columns))
  }

  deinit {
    raw.deallocate()
    values.deallocate()
  }

  func row(_ r: Int) throws(GraftError) -> UnsafeMutableBufferPointer<Float> {
    let range = (r * columns * size)..<((r + 1) * columns * size)
    let chunk = UnsafeMutableRawBufferPointer(rebasing: raw[0..<range.count])
    do { try tensor.bytes.copyBytes(in: range, into: chunk) } catch {
      throw GraftError(.io, "could not read row \(r)", tensor: name, cause: error)
    }
    let out = UnsafeMutableBufferPointer(rebasing: values[0..<columns])
    try ElementDecoding.decodeToFloat(UnsafeRawBufferPointer(chunk), dtype: tensor.dtype, into: out)
    return out
  }

  /// Rounds Float values to `dtype` and back (round to nearest even), as a writer storing them would.
  static func roundTrip(_ values: inout [Float], dtype: DType) throws(GraftError) {
    guard dtype != .float32, let size = dtype.byteWidth else { return }
    let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: values.count * size, alignment: 64)
    defer { bytes.deallocate() }
    let floats = UnsafeMutableBufferPointer<Float>.allocate(capacity: values.count)
    defer { floats.deallocate() }
    _ = floats.initialize(from: values)
    var report = CastReport()
    try ElementDecoding.encodeFromFloat(
      UnsafeBufferPointer(floats), to: dtype, into: bytes, options: CastOptions(), report: &report)
    try ElementDecoding.decodeToFloat(UnsafeRawBufferPointer(bytes), dtype: dtype, into: floats)
    values = Array(floats)
  }
}
