public import GraftCore
public import GraftEngine
public import GraftSurgery

/// Checks a LoRA merge with the engine: every targeted Linear run unmerged (`W·x + b + s·B·A·x`, DoRA's
/// `b + f ⊙ (W·x + s·B·A·x)`) against its merged weight on seeded inputs, the merged weights against the exact
/// Float64 merge (the cast to the base dtype), and, for a ViT base, the whole model unmerged against merged.
public enum LoRACheck {
  /// The per-layer and end-to-end bound, relative to `max|y|`: float32 rounding of the two computations.
  public static let tolerance = 1e-5

  /// The base table with Graft's unmerged-LoRA tensors (``LowRankAdapter``) next to every targeted weight and the
  /// adapters' saved modules in place, so any engine model built from Linears runs the adapters unmerged.
  ///
  /// - Throws: `invalidModel` when a replaced tensor is missing from the merged table.
  public static func unmergedTable(
    base: TensorTable, merged: TensorTable, report: LoRA.MergeReport
  ) throws(GraftError) -> TensorTable {
    var out = base
    for m in report.modules where !m.fanInFanOut {
      let prefix = String(m.weightName.dropLast("weight".count))
      try out.append(
        prefix + LowRankAdapter.downName, Tensor(float32: m.down.map(Float.init), shape: [m.rank, m.inFeatures]))
      try out.append(
        prefix + LowRankAdapter.upName, Tensor(float32: m.up.map(Float.init), shape: [m.outFeatures, m.rank]))
      if let magnitude = m.magnitude {
        let f = doraFactor(m, weight: try oriented(base, m.weightName, m), magnitude: magnitude)
        try out.append(prefix + LowRankAdapter.scaleName, Tensor(float32: f.map(Float.init), shape: [m.outFeatures]))
      }
    }
    for r in report.replaced {
      guard let t = merged[r.name] else {
        throw GraftError(.invalidModel, "the merged table lost a replaced tensor", tensor: r.name)
      }
      try out.replace(r.name, with: t)
    }
    return out
  }

  /// Verifies a merge: `base` and `adapters` are the inputs of ``LoRA/merge(_:adapters:options:)``, `merged` its
  /// output.
  ///
  /// - Parameters:
  ///   - rowsPerLayer: random input rows per layer.
  ///   - wholeModel: also run the whole model when the base is a ViT (`patch_embed.proj.weight`).
  ///   - model: ViT options for the whole-model run.
  ///   - llm: the configuration of an LLM base (its config.json), for the end-to-end run of the decoder.
  /// - Throws: `invalidModel` when a layer or the model cannot be built.
  public static func verify(
    base: TensorTable, merged: TensorTable, report: LoRA.MergeReport, adapters: [LoRA.Adapter],
    rowsPerLayer: Int = 64, seed: UInt64 = 0,
    wholeModel: Bool = true, model: VisionTransformer.Options = VisionTransformer.Options(),
    llm: LLMConfiguration? = nil
  ) throws(GraftError) -> CheckReport {
    var rows: [CheckReport.Row] = []
    for (index, m) in report.modules.enumerated() {
      rows.append(try layerRow(m, base: base, merged: merged, rows: rowsPerLayer, seed: seed &+ UInt64(index)))
    }
    for r in report.replaced {
      rows.append(try savedRow(r, merged: merged, adapters: adapters))
    }
    var input = "\(rowsPerLayer) random rows per layer, seed \(seed)"
    if wholeModel && base.names.contains(where: { $0.hasSuffix("patch_embed.proj.weight") }) {
      let unmerged = try unmergedTable(base: base, merged: merged, report: report)
      let check = try ModelCheck.compare(
        before: unmerged, after: merged,
        options: CheckOptions(model: model, batch: 2, seed: seed, atol: 0, rtol: tolerance))
      input += "; model: \(check.facts["input"]?.stringValue ?? "")"
      rows += check.rows.map { r in
        var r = r
        r.name = "model " + r.name
        return r
      }
    } else if isLanguageModel(base) {
      rows += try llmEndToEnd(base: base, merged: merged, report: report, configuration: llm, seed: seed)
    }
    return CheckReport(
      kind: "lora",
      header: [
        "LoRA verification: unmerged y = W·x + b + s·B·A·x (DoRA: b + m/‖W+sBA‖ ⊙ (W·x + s·B·A·x)) against merged "
          + "y' = W'·x + b (\(input))",
        "bound: max|Δ| ≤ 1e-5·max|y|; 'cast' is max|W'_stored − W'_exact| / max|W'_exact| (the rounding to the "
          + "base dtype of the float64 merge)",
      ],
      columns: columns, rows: rows, facts: JSONObject([("input", .string(input))]))
  }

  /// The end-to-end LLM rows: the decoder built from the base with every adapter unmerged (its Linears run
  /// `W·x + s·B·A·x` through ``LowRankAdapter``) against the merged decoder, on seeded token ids.
  ///
  /// Without the base's configuration (a table not read from a model folder) the row says, by name, that it did not
  /// run; the per-layer rows still prove every layer.
  static func llmEndToEnd(
    base: TensorTable, merged: TensorTable, report: LoRA.MergeReport, configuration: LLMConfiguration?, seed: UInt64
  ) throws(GraftError) -> [CheckReport.Row] {
    guard let configuration else {
      return [
        CheckReport.Row(
          "model logits", .info, [:],
          note: "end-to-end LLM check not run: the base's config.json is not known (read it from a model folder)")
      ]
    }
    let unmerged = try unmergedTable(base: base, merged: merged, report: report)
    let before = try CausalLM(configuration: configuration, weights: unmerged)
    let after = try CausalLM(configuration: configuration, weights: merged)
    var o = LLMCheck.Options()
    (o.batch, o.length, o.seed, o.atol, o.rtol, o.compareHiddenStates) = (2, 12, seed, 0, tolerance, false)
    // LLMCheck.compare ends with its logits row; the same seeded ids, comparison and KL as `graft check`.
    var row =
      try LLMCheck.compare(before: before, after: after, options: o).row("logits")
      ?? CheckReport.Row("logits", .failed, note: "the LLM comparison returned no logits row")
    row.name = "model logits"
    row.note = "decoder with unmerged adapters vs merged, 2 × 12 seeded token ids"
    return [row]
  }

  /// Whether the base looks like a decoder LLM (HF Llama-family names).
  static func isLanguageModel(_ table: TensorTable) -> Bool {
    table.names.contains { $0.hasSuffix("embed_tokens.weight") || $0.contains(".self_attn.q_proj.") }
  }

  /// The table's columns.
  static let columns: [CheckReport.Column] = [
    .init("rank", "R", width: 3), .init("shape", "shape", width: 10, alignRight: false),
    .init("max_abs", "max|Δ|", width: 10), .init("scale", "max|y|", width: 10), .init("bound", "bound", width: 10),
    .init("cosine", "cosine", width: 14), .init("cast", "cast", width: 10),
  ]

  /// One targeted layer: unmerged against merged on random rows, and the stored merged weight against the exact one.
  static func layerRow(
    _ m: LoRA.ModuleMerge, base: TensorTable, merged: TensorTable, rows: Int, seed: UInt64
  ) throws(GraftError) -> CheckReport.Row {
    let (o, i) = (m.outFeatures, m.inFeatures)
    let w = try oriented(base, m.weightName, m)
    let stored = try oriented(merged, m.weightName, m)
    let bias = try m.biasName.map { n throws(GraftError) in try DeployTensors.doubles(base, n).map(Float.init) }
    let f = m.magnitude.map { doraFactor(m, weight: w, magnitude: $0) }
    var castError = 0.0
    var weightScale = 0.0
    for r in 0..<o {
      for c in 0..<i {
        var d = 0.0
        for k in 0..<m.rank { d += m.up[r * m.rank + k] * m.down[k * i + c] }
        let exact = (f?[r] ?? 1) * (w[r * i + c] + d)
        castError = max(castError, abs(stored[r * i + c] - exact))
        weightScale = max(weightScale, abs(exact))
      }
    }
    let adapter = try LowRankAdapter(
      down: m.down.map(Float.init), up: m.up.map(Float.init), rank: m.rank, inFeatures: i, outFeatures: o,
      scale: f?.map(Float.init))
    let unmerged = Linear(weight: w.map(Float.init), bias: bias, outFeatures: o, inFeatures: i, lowRank: adapter)
    let linear = Linear(weight: stored.map(Float.init), bias: bias, outFeatures: o, inFeatures: i)
    let x = ModelCheck.randomInput(shape: [rows, i], seed: seed)
    let c = TensorComparison(before: try unmerged.forward(x), after: try linear.forward(x))
    let bound = tolerance * c.scale
    var values = ModelCheck.row("", c, atol: 0, rtol: tolerance).values
    values["rank"] = .integer(m.rank)
    values["shape"] = .shape([o, i])
    values["cast"] = .number(weightScale > 0 ? castError / weightScale : castError, .scientific)
    var notes = m.terms.map { t in
      "\(t.adapter): r \(t.rank), s \(Format.scientific(t.scaling))" + (t.weight != 1 ? ", w \(t.weight)" : "")
        + (t.patternKeys.isEmpty ? "" : " (\(t.patternKeys.joined(separator: ", ")))")
    }
    if m.magnitude != nil { notes.append("DoRA") }
    if let problem = c.problem { notes.append(problem) }
    return CheckReport.Row(
      "layer " + m.module, c.isComparable && c.maxAbs <= bound ? .passed : .failed, values,
      note: notes.joined(separator: "; "))
  }

  /// A tensor replaced by an adapter's saved copy: the merged values must equal the copy's (rounded to the base
  /// dtype when the dtypes differ).
  static func savedRow(
    _ r: (name: String, adapter: String, key: String, from: DType, to: DType), merged: TensorTable,
    adapters: [LoRA.Adapter]
  ) throws(GraftError) -> CheckReport.Row {
    guard let copy = adapters.first(where: { $0.label == r.adapter })?.tensors[r.key] else {
      throw GraftError(.invalidModel, "\(r.adapter) has no saved copy of this tensor", tensor: r.key)
    }
    let want = try DeployTensors.doubles(
      try DeployTensors.stored(
        try DeployTensors.doubles(copy, name: r.key), dtype: r.to, shape: copy.shape), name: r.key)
    let got = try DeployTensors.doubles(merged, r.name)
    let c = TensorComparison(want.map(Float.init), got.map(Float.init), shapeBefore: copy.shape, shapeAfter: copy.shape)
    return CheckReport.Row(
      "saved " + r.name, c.isComparable && c.maxAbs == 0 ? .passed : .failed,
      ["shape": .shape(copy.shape), "max_abs": .number(c.maxAbs, .scientific), "scale": .number(c.scale, .scientific)],
      note: "\(r.adapter)'s saved copy (modules_to_save / trained bias), \(r.from) → \(r.to)")
  }

  /// A module's weight from `table` in the `[out, in]` orientation.
  private static func oriented(
    _ table: TensorTable, _ name: String, _ m: LoRA.ModuleMerge
  ) throws(GraftError) -> [Double] {
    let values = try DeployTensors.doubles(table, name)
    guard m.fanInFanOut else { return values }
    var out = [Double](repeating: 0, count: values.count)
    for r in 0..<m.inFeatures {
      for c in 0..<m.outFeatures { out[c * m.inFeatures + r] = values[r * m.outFeatures + c] }
    }
    return out
  }

  /// DoRA's `m / ‖W + ΔW‖` per output for the base weight `w` (as `oriented` returns it), from the definition
  /// (independently of the merge's streaming version).
  static func doraFactor(_ m: LoRA.ModuleMerge, weight w: [Double], magnitude: [Double]) -> [Double] {
    (0..<m.outFeatures).map { r in
      var sum = 0.0
      for c in 0..<m.inFeatures {
        let v = w[r * m.inFeatures + c] + m.delta(r, c)
        sum += v * v
      }
      return magnitude[r] / sum.squareRoot()
    }
  }
}
