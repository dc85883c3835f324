public import GraftCore
public import GraftEngine

/// How ``ModelCheck/compare(before:after:options:)`` runs and judges two checkpoints.
///
/// Tolerances apply to each compared tensor as `max|after − before| ≤ atol + rtol · max|before|`: relative to the
/// tensor's scale rather than to each element, because hidden states have many near-zero entries whose
/// element-wise relative error means nothing. The defaults, `rtol = 1e-4` and `atol = 1e-5`, sit an order of
/// magnitude above the Float32 reassociation noise of mathematically equivalent weights (measured ≤ 1e-5 of the
/// scale after 12 ViT-B blocks) and two below the effect of a BF16 or F16 cast (≈ 1e-3–1e-2), so exact surgery
/// passes and lossy surgery must opt in with a looser `rtol`.
public struct CheckOptions: Sendable {
  /// The architecture to build from both checkpoints.
  public var architecture: ModelArchitecture
  /// Model options (heads, pooling, MLP builders for MoE or DenoiseRep layers).
  public var model: VisionTransformer.Options
  /// Model options for the checkpoint after the change, when they differ (each side's own architecture metadata).
  public var modelAfter: VisionTransformer.Options?
  /// The input; when `nil`, a seeded pseudo-random batch.
  public var input: FloatTensor?
  /// The batch size of the random input.
  public var batch: Int
  /// The seed of the random input.
  public var seed: UInt64
  /// The absolute tolerance.
  public var atol: Double
  /// The tolerance relative to `max|before|`.
  public var rtol: Double
  /// Whether to compare every block's hidden state as well as the outputs.
  public var compareHiddenStates: Bool

  /// Creates options with the documented defaults.
  public init(
    architecture: ModelArchitecture = .vit, model: VisionTransformer.Options = .init(), input: FloatTensor? = nil,
    batch: Int = 2, seed: UInt64 = 0, atol: Double = 1e-5, rtol: Double = 1e-4, compareHiddenStates: Bool = true
  ) {
    self.architecture = architecture
    self.model = model
    self.input = input
    self.batch = batch
    self.seed = seed
    self.atol = atol
    self.rtol = rtol
    self.compareHiddenStates = compareHiddenStates
  }
}

/// Runs a model before and after a change on the same inputs and compares what comes out.
public enum ModelCheck {
  /// The columns of a model comparison: the tolerance bounds `max|Δ|`, and `max|Δ|/max|before|` is what `rtol` bounds.
  public static let columns: [CheckReport.Column] = [
    .init("shape", "shape", width: 12, alignRight: false), .init("max_abs", "max|Δ|", width: 10),
    .init("scale", "max|before|", width: 11), .init("relative", "max|Δ|/max|b|", width: 13),
    .init("bound", "bound", width: 10), .init("cosine", "cosine", width: 14), .init("argmax", "argmax", width: 7),
  ]

  /// Builds both models, runs them on the same input and compares the outputs, pooled features and, if asked, every
  /// block's hidden state.
  ///
  /// - Throws: `invalidModel` when either checkpoint does not build, naming the table's source file (or saying
  ///   which side it is when the table was built in memory); `invalidArgument` for a bad input.
  public static func compare(
    before: TensorTable, after: TensorTable, options: CheckOptions = CheckOptions()
  ) throws(GraftError) -> CheckReport {
    // Each model runs once: packing its weights at build would only add a fresh copy of both models.
    var modelOptions = options.model
    modelOptions.weightPacking = .perCall
    var modelOptionsAfter = options.modelAfter ?? options.model
    modelOptionsAfter.weightPacking = .perCall
    let modelBefore = try build(before, side: "before", options: options, model: modelOptions)
    let modelAfter = try build(after, side: "after", options: options, model: modelOptionsAfter)
    guard modelBefore.sampleShape == modelAfter.sampleShape else {
      throw GraftError(
        .invalidModel,
        "the checkpoints take different inputs: before \(modelBefore.sampleShape), after \(modelAfter.sampleShape)",
        file: after.source)
    }
    let input: FloatTensor
    let inputDescription: String
    if let given = options.input {
      input = given
      inputDescription = "given \(given.shape)"
    } else {
      input = randomInput(shape: [max(1, options.batch)] + modelBefore.sampleShape, seed: options.seed)
      inputDescription = "random \(input.shape), seed \(options.seed)"
    }
    let clock = ContinuousClock()
    let start = clock.now
    let outBefore = try run(modelBefore, input, table: before, side: "before", options: options)
    let middle = clock.now
    let outAfter = try run(modelAfter, input, table: after, side: "after", options: options)
    var comparisons = [
      ("output", TensorComparison(before: outBefore.output, after: outAfter.output, argmax: true)),
      ("pooled", TensorComparison(before: outBefore.pooled, after: outAfter.pooled)),
    ]
    var depthNote: [String: String] = [:]
    if options.compareHiddenStates {
      for i in 0..<max(outBefore.hiddenStates.count, outAfter.hiddenStates.count) {
        let b = i < outBefore.hiddenStates.count ? outBefore.hiddenStates[i] : nil
        let a = i < outAfter.hiddenStates.count ? outAfter.hiddenStates[i] : nil
        if let b, let a {
          comparisons.append(("block.\(i)", TensorComparison(before: b, after: a)))
        } else {
          comparisons.append(("block.\(i)", TensorComparison([], [0], shapeBefore: b?.shape, shapeAfter: a?.shape)))
          depthNote["block.\(i)"] = "present only \(b == nil ? "after" : "before") (depth differs)"
        }
      }
    }
    var header = ["configuration before:"] + modelBefore.configurationLines.map { "  " + $0 }
    header.append(
      modelAfter.configurationLines == modelBefore.configurationLines
        ? "configuration after: the same" : "configuration after:")
    if modelAfter.configurationLines != modelBefore.configurationLines {
      header += modelAfter.configurationLines.map { "  " + $0 }
    }
    header.append(
      "input: \(inputDescription); a tensor passes when max|Δ| ≤ bound = \(Format.scientific(options.atol)) + "
        + "\(Format.scientific(options.rtol)) · max|before|")
    var report = CheckReport(kind: "model", header: header, columns: columns)
    for (name, c) in comparisons {
      var row = self.row(name, c, atol: options.atol, rtol: options.rtol)
      if let note = depthNote[name] { row.note = note }
      report.rows.append(row)
    }
    report.facts["architecture"] = .string(options.architecture.rawValue)
    report.facts["input"] = .string(inputDescription)
    report.facts["atol"] = .double(options.atol)
    report.facts["rtol"] = .double(options.rtol)
    report.facts["seconds_before"] = .double(seconds(start.duration(to: middle)))
    report.facts["seconds_after"] = .double(seconds(middle.duration(to: clock.now)))
    report.facts["configuration_before"] = modelBefore.configurationJSON
    report.facts["configuration_after"] = modelAfter.configurationJSON
    return report
  }

  /// One table row for a comparison judged by `max|Δ| ≤ atol + rtol · max|before|`.
  public static func row(_ name: String, _ c: TensorComparison, atol: Double, rtol: Double) -> CheckReport.Row {
    let bound = atol + rtol * c.scale
    var values: [String: CheckReport.Value] = [
      "shape": .shape(c.shapeBefore), "max_abs": .number(c.maxAbs, .scientific), "scale": .number(c.scale, .scientific),
      "relative": .number(c.relative, .scientific), "bound": .number(bound, .scientific),
      "cosine": .number(c.cosine, .cosine),
    ]
    if let a = c.argmaxAgreement { values["argmax"] = .number(a, .percent) }
    return CheckReport.Row(
      name, c.isComparable && c.maxAbs <= bound ? .passed : .failed, values, note: c.problem)
  }

  /// An approximately standard-normal batch: Irwin–Hall sums of four uniforms, scaled to unit variance.
  public static func randomInput(shape: [Int], seed: UInt64) -> FloatTensor {
    var rng = SplitMix64(seed: seed)
    let count = shape.reduce(1, *)
    var values = [Float](repeating: 0, count: count)
    for i in 0..<count {
      var s: Float = 0
      for _ in 0..<4 { s += rng.nextSignedUnitFloat() }
      values[i] = s * 0.866_025_4
    }
    return (try? FloatTensor(shape: shape, values: values)) ?? FloatTensor(zeros: shape)
  }

  /// A duration in seconds.
  public static func seconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
  }

  private static func build(
    _ table: TensorTable, side: String, options: CheckOptions, model: VisionTransformer.Options
  ) throws(GraftError) -> any ForwardModel {
    do { return try options.architecture.build(table, options: model) } catch {
      throw located(error, table: table, side: side)
    }
  }

  private static func run(
    _ model: any ForwardModel, _ input: FloatTensor, table: TensorTable, side: String, options: CheckOptions
  ) throws(GraftError) -> ForwardOutputs {
    do { return try model.forward(input, hiddenStates: options.compareHiddenStates) } catch {
      throw located(error, table: table, side: side)
    }
  }

  /// Names the file the failing model came from, or says which side it is when it was built in memory.
  private static func located(_ error: GraftError, table: TensorTable, side: String) -> GraftError {
    if let source = table.source { return error.inFile(source) }
    var e = error
    e.message = "the model \(side) the change: " + e.message
    return e
  }
}
