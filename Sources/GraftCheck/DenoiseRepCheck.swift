public import GraftCore
public import GraftEngine
public import GraftSurgery

/// The verification of a DenoiseRep fusion: each layer, then the whole model, explicit denoising against fused.
public struct DenoiseRepVerification: Sendable {
  /// One comparison.
  public struct Row: Sendable {
    /// `layer <prefix>` or `model <tensor>`.
    public var name: String
    /// The layer's T (layers only).
    public var t: Int?
    /// The compared shape.
    public var shape: [Int]
    /// `max |fused − explicit|`.
    public var maxAbs: Double
    /// `max |explicit|`.
    public var scale: Double
    /// The cosine similarity.
    public var cosine: Double
    /// The bound `maxAbs` must stay under.
    public var bound: Double
    /// Whether the row is within its bound (and, for the model, cosine ≥ 0.99999).
    public var passed: Bool
    /// Why a row was skipped or failed structurally.
    public var note: String?
  }

  /// The fusion mode verified.
  public var mode: DenoiseRep.Mode
  /// The rows, layers first.
  public var rows: [Row]
  /// How the inputs were made.
  public var input: String

  /// Whether every row passed.
  public var passed: Bool { rows.allSatisfy(\.passed) }

  /// The table as lines, ending with PASS or FAIL.
  public var lines: [String] {
    var out = [
      "DenoiseRep verification, mode \(mode.rawValue): explicit y = W·(c3·x − c1·ε̂ + c2·z) + b against fused "
        + "y' = W'·x + b' (\(input))",
      "bounds: layer max|Δ| ≤ 1e-5·max(1, max|y|); model max|Δ| ≤ 1e-4·max(1, max|y|) and cosine ≥ 0.99999",
      [
        Format.pad("check", 34), Format.padLeft("T", 4), Format.pad("  shape", 14), Format.padLeft("max|Δ|", 10),
        Format.padLeft("max|y|", 10),
        Format.padLeft("cosine", 18), Format.padLeft("bound", 10), "  result",
      ].joined(separator: " "),
    ]
    for r in rows {
      var cells = [
        Format.pad(r.name, 34), Format.padLeft(r.t.map(String.init) ?? "-", 4),
        Format.pad("  " + r.shape.map(String.init).joined(separator: "×"), 14), Format.padLeft(sci(r.maxAbs), 10),
        Format.padLeft(sci(r.scale), 10), Format.padLeft(r.cosine.isNaN ? "-" : cosineText(r.cosine), 18),
        Format.padLeft(sci(r.bound), 10),
        r.passed ? "  ok" : "  FAIL",
      ]
      if let note = r.note { cells.append("(\(note))") }
      out.append(cells.joined(separator: " "))
    }
    let failed = rows.filter { !$0.passed }.count
    out.append(
      passed ? "PASS: \(rows.count) checks within bounds" : "FAIL: \(failed) of \(rows.count) checks out of bounds")
    return out
  }

  /// The verification as JSON.
  public var json: JSONValue {
    func number(_ v: Double) -> JSONValue { v.isFinite ? .double(v) : .string(String(v)) }
    var o = JSONObject()
    o["mode"] = .string(mode.rawValue)
    o["passed"] = .bool(passed)
    o["input"] = .string(input)
    o["rows"] = .array(
      rows.map { r in
        var e = JSONObject()
        e["check"] = .string(r.name)
        if let t = r.t { e["T"] = .integer(t) }
        e["shape"] = .array(r.shape.map(JSONValue.integer))
        e["max_abs"] = number(r.maxAbs)
        e["scale"] = number(r.scale)
        e["cosine"] = number(r.cosine)
        e["bound"] = number(r.bound)
        e["passed"] = .bool(r.passed)
        if let n = r.note { e["note"] = .string(n) }
        return .object(e)
      })
    return .object(o)
  }

  private func sci(_ v: Double) -> String { DenoiseRepCheck.scientific(v) }
  private func cosineText(_ c: Double) -> String {
    c >= 1 ? "1" : "1 − " + DenoiseRepCheck.scientific(1 - c)
  }
}

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
  ) throws(GraftError) -> DenoiseRepVerification {
    let steps = try self.steps(for: unfused, report: report, fuseOptions: fuseOptions)
    var rows: [DenoiseRepVerification.Row] = []
    let before = WeightLoader(table: unfused)
    let after = WeightLoader(table: fused)
    for (index, record) in report.layers.enumerated() {
      let layer = record.layer
      guard layer.kind == .linear, let step = steps[layer.prefix] else {
        rows.append(
          .init(
            name: "layer " + layer.prefix, t: record.constants.t, shape: layer.weightShape, maxAbs: .nan, scale: .nan,
            cosine: .nan, bound: .nan, passed: true,
            note: "conv fused with --compat-conv: not an equivalence, not checked"))
        continue
      }
      let p = layer.prefix + "."
      let explicit = try DenoiseRepLinear(
        before, prefix: p, inFeatures: layer.inFeatures, outFeatures: layer.outFeatures, step: step)
      let linear = try Linear(after, prefix: p, inFeatures: layer.inFeatures, outFeatures: layer.outFeatures)
      let x = ModelCheck.randomInput(shape: [rowsPerLayer, layer.inFeatures], seed: seed &+ UInt64(index))
      let y = try explicit.forward(x)
      let y2 = try linear.forward(x)
      let (maxAbs, scale, cosine) = compare(y.values, y2.values)
      let bound = layerTolerance * max(1, scale)
      rows.append(
        .init(
          name: "layer " + layer.prefix, t: record.constants.t, shape: y.shape, maxAbs: maxAbs, scale: scale,
          cosine: cosine, bound: bound, passed: maxAbs <= bound))
    }
    var input = "\(rowsPerLayer) random rows per layer, seed \(seed)"
    if wholeModel && unfused.names.contains(where: { $0.hasSuffix("patch_embed.proj.weight") }) {
      var options = model
      options.feedForwardBuilders = [DenoiseRepMLPBuilder(steps: steps)] + options.feedForwardBuilders
      let check = try ModelCheck.compare(
        before: unfused, after: fused,
        options: CheckOptions(model: options, batch: 2, seed: seed, atol: 0, rtol: modelTolerance))
      input += "; model: \(check.input)"
      for r in check.rows {
        let bound = modelTolerance * max(1, r.scale)
        let ok = r.note == nil && r.maxAbs <= bound && r.cosine >= minimumCosine
        rows.append(
          .init(
            name: "model " + r.name, t: nil, shape: r.shapeBefore ?? r.shapeAfter ?? [], maxAbs: r.maxAbs,
            scale: r.scale, cosine: r.cosine, bound: bound, passed: ok, note: r.note))
      }
    }
    return DenoiseRepVerification(mode: report.mode, rows: rows, input: input)
  }

  /// max |a − b|, max |a| and the cosine, accumulated in float64.
  static func compare(_ a: [Float], _ b: [Float]) -> (maxAbs: Double, scale: Double, cosine: Double) {
    var maxAbs = 0.0
    var scale = 0.0
    var dot = 0.0
    var na = 0.0
    var nb = 0.0
    for i in 0..<min(a.count, b.count) {
      let x = Double(a[i])
      let y = Double(b[i])
      maxAbs = max(maxAbs, abs(x - y))
      if !(abs(x - y) <= maxAbs) { maxAbs = .infinity }
      scale = max(scale, abs(x))
      dot += x * y
      na += x * x
      nb += y * y
    }
    let cosine = na > 0 && nb > 0 ? dot / (na.squareRoot() * nb.squareRoot()) : (na == nb ? 1 : 0)
    return (maxAbs, scale, cosine)
  }

  /// `1.23e-05`; `-` for NaN (a column with no value).
  static func scientific(_ v: Double) -> String { v.isNaN ? "-" : Format.scientific(v) }

}
