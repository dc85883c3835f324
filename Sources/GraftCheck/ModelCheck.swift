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
  /// Builds both models, runs them on the same input and compares the outputs, pooled features and, if asked, every
  /// block's hidden state.
  ///
  /// - Throws: `invalidModel` when either checkpoint does not build (the error says which, in ``GraftError/file``
  ///   as `before` or `after`); `invalidArgument` for a bad input.
  public static func compare(
    before: TensorTable, after: TensorTable, options: CheckOptions = CheckOptions()
  )
    throws(GraftError) -> CheckReport
  {
    let modelBefore: any ForwardModel
    let modelAfter: any ForwardModel
    do { modelBefore = try options.architecture.build(before, options: options.model) } catch {
      throw error.inFile("before")
    }
    do { modelAfter = try options.architecture.build(after, options: options.model) } catch {
      throw error.inFile("after")
    }
    guard modelBefore.sampleShape == modelAfter.sampleShape else {
      throw GraftError(
        .invalidModel,
        "the checkpoints take different inputs: before \(modelBefore.sampleShape), after \(modelAfter.sampleShape)",
        file: "after")
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
    let outBefore: ForwardOutputs
    let outAfter: ForwardOutputs
    do { outBefore = try modelBefore.forward(input, hiddenStates: options.compareHiddenStates) } catch {
      throw error.inFile("before")
    }
    let middle = clock.now
    do { outAfter = try modelAfter.forward(input, hiddenStates: options.compareHiddenStates) } catch {
      throw error.inFile("after")
    }
    let tBefore = start.duration(to: middle)
    let tAfter = middle.duration(to: clock.now)
    var rows: [CheckReport.Row] = []
    rows.append(compareTensors("output", outBefore.output, outAfter.output, options: options, argmax: true))
    rows.append(compareTensors("pooled", outBefore.pooled, outAfter.pooled, options: options, argmax: false))
    if options.compareHiddenStates {
      let n = max(outBefore.hiddenStates.count, outAfter.hiddenStates.count)
      for i in 0..<n {
        let b = i < outBefore.hiddenStates.count ? outBefore.hiddenStates[i] : nil
        let a = i < outAfter.hiddenStates.count ? outAfter.hiddenStates[i] : nil
        if let b, let a {
          rows.append(compareTensors("block.\(i)", b, a, options: options, argmax: false))
        } else {
          rows.append(
            CheckReport.Row(
              name: "block.\(i)", shapeBefore: b?.shape, shapeAfter: a?.shape, maxAbs: .infinity, maxRel: .infinity,
              cosine: .nan, scale: 0, argmaxAgreement: nil, passed: false,
              note: "present only \(b == nil ? "after" : "before") (depth differs)"))
        }
      }
    }
    return CheckReport(
      architecture: options.architecture, configurationBefore: modelBefore.configurationJSON,
      configurationAfter: modelAfter.configurationJSON, input: inputDescription, atol: options.atol, rtol: options.rtol,
      rows: rows, secondsBefore: seconds(tBefore), secondsAfter: seconds(tAfter))
  }

  /// An approximately standard-normal batch: Irwin–Hall sums of four uniforms, scaled to unit variance.
  public static func randomInput(shape: [Int], seed: UInt64) -> FloatTensor {
    var state = seed
    func next() -> UInt64 {
      state &+= 0x9E37_79B9_7F4A_7C15
      var z = state
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return z ^ (z >> 31)
    }
    let count = shape.reduce(1, *)
    var values = [Float](repeating: 0, count: count)
    for i in 0..<count {
      var s: Float = 0
      for _ in 0..<4 { s += Float(next() >> 40) / Float(1 << 23) - 1 }
      values[i] = s * 0.866_025_4
    }
    return (try? FloatTensor(shape: shape, values: values)) ?? FloatTensor(zeros: shape)
  }

  static func seconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
  }

  /// Compares two tensors: max abs, floored max rel, cosine, and for `[N, classes]` the argmax agreement.
  static func compareTensors(
    _ name: String, _ before: FloatTensor, _ after: FloatTensor, options: CheckOptions,
    argmax: Bool
  ) -> CheckReport.Row {
    guard before.shape == after.shape else {
      return CheckReport.Row(
        name: name, shapeBefore: before.shape, shapeAfter: after.shape, maxAbs: .infinity, maxRel: .infinity,
        cosine: .nan, scale: Double(before.maxMagnitude), argmaxAgreement: nil, passed: false, note: "shapes differ")
    }
    let scale = Double(before.maxMagnitude)
    let floor = max(scale * 1e-3, Double.leastNormalMagnitude)
    var maxAbs = 0.0
    var maxRel = 0.0
    var dot = 0.0
    var nb = 0.0
    var na = 0.0
    var nonFinite = 0
    for (b, a) in zip(before.values, after.values) {
      let bd = Double(b)
      let ad = Double(a)
      if !bd.isFinite || !ad.isFinite {
        nonFinite += 1
        continue
      }
      let d = abs(ad - bd)
      maxAbs = max(maxAbs, d)
      maxRel = max(maxRel, d / max(abs(bd), floor))
      dot += ad * bd
      nb += bd * bd
      na += ad * ad
    }
    let cosine = nb == 0 && na == 0 ? 1 : dot / ((nb * na).squareRoot() + Double.leastNormalMagnitude)
    var agreement: Double?
    if argmax, before.shape.count == 2, let classes = before.shape.last, classes > 1 {
      let n = before.shape[0]
      var same = 0
      for r in 0..<n {
        let bRow = before.values[(r * classes)..<((r + 1) * classes)]
        let aRow = after.values[(r * classes)..<((r + 1) * classes)]
        if bRow.indices.max(by: { bRow[$0] < bRow[$1] }) == aRow.indices.max(by: { aRow[$0] < aRow[$1] }) {
          same += 1
        }
      }
      agreement = n > 0 ? Double(same) / Double(n) : 1
    }
    let passed = nonFinite == 0 && maxAbs <= options.atol + options.rtol * scale
    return CheckReport.Row(
      name: name, shapeBefore: before.shape, shapeAfter: after.shape, maxAbs: nonFinite > 0 ? .infinity : maxAbs,
      maxRel: nonFinite > 0 ? .infinity : maxRel, cosine: cosine, scale: scale, argmaxAgreement: agreement,
      passed: passed, note: nonFinite > 0 ? "\(nonFinite) non-finite values" : nil)
  }
}
