public import GraftCore
public import GraftEngine
public import GraftSurgery

/// Checks a DenoiseRep fusion with the engine: every wrapped layer run explicitly against its fused Linear, then the
/// whole ViT with explicit DenoiseRep MLPs against the fused checkpoint.
public enum DenoiseRepCheck {
  /// The per-layer bound, relative to `max(1, max|y|)`.
  public static let layerTolerance = 1e-5
  /// The end-to-end bound, relative to `max(1, max|y|)`.
  public static let modelTolerance = 1e-4
  /// The end-to-end cosine floor.
  public static let minimumCosine = 0.99999

  /// The engine steps (constants, e(T) in `exact`, z in `compat`) of every fused Linear, keyed by layer prefix.
  ///
  /// - Throws: the GraftSurgery errors for missing buffers or time-MLP tensors.
  public static func steps(
    for unfused: TensorTable, report: DenoiseRep.FuseReport, fuseOptions: DenoiseRep.FuseOptions
  )
    throws(GraftError) -> [String: DenoiseRepStep]
  {
    var steps: [String: DenoiseRepStep] = [:]
    for fused in report.layers where fused.layer.kind == .linear {
      let layer = fused.layer
      let k = fused.constants
      var e: [Float]?
      if report.mode.includesTimeTerm {
        e = try DenoiseRep.timeEmbedding(for: layer, t: k.t, in: unfused).map { Float($0) }
      }
      var z: [Float]?
      if report.mode.includesNoise {
        let values =
          fuseOptions.noise[layer.prefix]
          ?? DenoiseRep.noiseVector(layer: layer.prefix, seed: fuseOptions.seed, count: layer.inFeatures)
        z = values.map { Float($0) }
      }
      steps[layer.prefix] = DenoiseRepStep(c1: k.c1, c2: k.c2, c3: k.c3, timeEmbedding: e, noise: z)
    }
    return steps
  }

  /// Verifies a fusion: `unfused` is the input of ``DenoiseRep/fuse(_:options:)``, `fused` its output.
  ///
  /// - Parameters:
  ///   - rowsPerLayer: how many random input rows each layer sees (the reference uses 2 × 129 tokens).
  ///   - seed: the seed of the random inputs.
  ///   - wholeModel: also run the whole model when the checkpoint is a ViT (`patch_embed.proj.weight`).
  ///   - model: ViT options (heads, pooling) for the whole-model run.
  /// - Throws: `invalidModel` when a layer or the model cannot be built from the tensors.
  public static func verify(
    unfused: TensorTable, fused: TensorTable, report: DenoiseRep.FuseReport, fuseOptions: DenoiseRep.FuseOptions,
    rowsPerLayer: Int = 258, seed: UInt64 = 0, wholeModel: Bool = true,
    model: VisionTransformer.Options = VisionTransformer.Options()
  ) throws(GraftError) -> CheckReport {
    let steps = try self.steps(for: unfused, report: report, fuseOptions: fuseOptions)
    var rows: [CheckReport.Row] = []
    // Each layer runs once: its weights are borrowed in place and packed by the product, not copied and pre-packed.
    let before = WeightLoader(table: unfused, packing: .perCall)
    let after = WeightLoader(table: fused, packing: .perCall)
    for (index, record) in report.layers.enumerated() {
      let layer = record.layer
      guard layer.kind == .linear, let step = steps[layer.prefix] else {
        rows.append(
          CheckReport.Row(
            "layer " + layer.prefix, .info, ["T": .integer(record.constants.t), "shape": .shape(layer.weightShape)],
            note: "conv fused with the public DenoiseConv2d formula (compatConv): not an equivalence, not checked"))
        continue
      }
      let p = layer.prefix + "."
      let explicit = try DenoiseRepLinear(
        before, prefix: p, inFeatures: layer.inFeatures, outFeatures: layer.outFeatures, step: step)
      let linear = try Linear(after, prefix: p, inFeatures: layer.inFeatures, outFeatures: layer.outFeatures)
      let x = ModelCheck.randomInput(shape: [rowsPerLayer, layer.inFeatures], seed: seed &+ UInt64(index))
      let y = try explicit.forward(x)
      let y2 = try linear.forward(x)
      let c = TensorComparison(before: y, after: y2)
      rows.append(row("layer " + layer.prefix, t: record.constants.t, c, tolerance: layerTolerance))
    }
    var input = "\(rowsPerLayer) random rows per layer, seed \(seed)"
    if wholeModel && unfused.names.contains(where: { $0.hasSuffix("patch_embed.proj.weight") }) {
      var options = model
      options.feedForwardBuilders = [DenoiseRepMLPBuilder(steps: steps)] + options.feedForwardBuilders
      let check = try ModelCheck.compare(
        before: unfused, after: fused,
        options: CheckOptions(model: options, batch: 2, seed: seed, atol: 0, rtol: modelTolerance))
      input += "; model: \(check.facts["input"]?.stringValue ?? "")"
      for r in check.rows {
        guard let maxAbs = r.number("max_abs"), let scale = r.number("scale"), let cosine = r.number("cosine") else {
          continue
        }
        let bound = modelTolerance * max(1, scale)
        let ok = r.note == nil && maxAbs <= bound && cosine >= minimumCosine
        var values = r.values.filter { ["shape", "max_abs", "scale", "cosine"].contains($0.key) }
        values["bound"] = .number(bound, .scientific)
        rows.append(CheckReport.Row("model " + r.name, ok ? .passed : .failed, values, note: r.note))
      }
    }
    return CheckReport(
      kind: "denoiserep",
      header: [
        "DenoiseRep verification, mode \(report.mode.rawValue): explicit y = W·(c3·x − c1·ε̂ + c2·z) + b against "
          + "fused y' = W'·x + b' (\(input))",
        "bounds: layer max|Δ| ≤ 1e-5·max(1, max|y|); model max|Δ| ≤ 1e-4·max(1, max|y|) and cosine ≥ 0.99999",
      ],
      columns: columns, rows: rows,
      facts: JSONObject([("mode", .string(report.mode.rawValue)), ("input", .string(input))]))
  }

  /// The table's columns.
  static let columns: [CheckReport.Column] = [
    .init("T", "T", width: 4), .init("shape", "shape", width: 12, alignRight: false),
    .init("max_abs", "max|Δ|", width: 10), .init("scale", "max|y|", width: 10), .init("cosine", "cosine", width: 18),
    .init("bound", "bound", width: 10),
  ]

  /// A layer row: passes when `max|Δ| ≤ tolerance · max(1, max|y|)`.
  static func row(_ name: String, t: Int, _ c: TensorComparison, tolerance: Double) -> CheckReport.Row {
    let bound = tolerance * max(1, c.scale)
    return CheckReport.Row(
      name, c.isComparable && c.maxAbs <= bound ? .passed : .failed,
      [
        "T": .integer(t), "shape": .shape(c.shapeBefore), "max_abs": .number(c.maxAbs, .scientific),
        "scale": .number(c.scale, .scientific), "cosine": .number(c.cosine, .cosine),
        "bound": .number(bound, .scientific),
      ], note: c.problem)
  }
}
