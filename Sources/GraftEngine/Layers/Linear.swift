public import GraftCore

/// A fully connected layer `y = x·Wᵀ + b` with PyTorch's weight layout `W[out × in]`, packed once for the GEMM (or
/// per call, see ``WeightPacking``).
public struct Linear: Sendable {
  /// Input features.
  public let inFeatures: Int
  /// Output features.
  public let outFeatures: Int
  let weight: LinearWeight
  let bias: [Float]?
  /// An unmerged LoRA path run next to the weight (see ``LowRankAdapter``).
  let lowRank: LowRankAdapter?

  /// Creates a layer from a row-major weight `[outFeatures × inFeatures]`, an optional bias and an optional
  /// unmerged LoRA path.
  public init(weight: [Float], bias: [Float]?, outFeatures: Int, inFeatures: Int, lowRank: LowRankAdapter? = nil) {
    precondition(weight.count == outFeatures * inFeatures && (bias?.count ?? outFeatures) == outFeatures)
    self.inFeatures = inFeatures
    self.outFeatures = outFeatures
    self.bias = bias
    self.lowRank = lowRank
    self.weight = LinearWeight(
      WeightValues(weight), outFeatures: outFeatures, inFeatures: inFeatures, packing: .atBuild)
  }

  init(
    weight: WeightValues, bias: [Float]?, outFeatures: Int, inFeatures: Int, lowRank: LowRankAdapter?,
    packing: WeightPacking
  ) {
    precondition(weight.count == outFeatures * inFeatures && (bias?.count ?? outFeatures) == outFeatures)
    self.inFeatures = inFeatures
    self.outFeatures = outFeatures
    self.bias = bias
    self.lowRank = lowRank
    self.weight = LinearWeight(weight, outFeatures: outFeatures, inFeatures: inFeatures, packing: packing)
  }

  /// Loads `<prefix>weight` (and `<prefix>bias` when present, or when `requireBias`), checking both shapes.
  ///
  /// Pass `inFeatures`/`outFeatures` as `nil` to take them from the weight's shape.
  public init(
    _ weights: WeightLoader, prefix: String, inFeatures: Int?, outFeatures: Int?, requireBias: Bool = false,
    weightName: String = "weight", biasName: String = "bias"
  ) throws(GraftError) {
    let shape = try weights.requireShape(
      prefix + weightName,
      expecting: "a 2-D weight [\(outFeatures.map(String.init) ?? "out"), "
        + "\(inFeatures.map(String.init) ?? "in")]")
    guard shape.count == 2 else {
      throw GraftError(
        .invalidModel, "has shape \(shape); expected a 2-D Linear weight [out, in]",
        tensor: weights.fullName(prefix + weightName))
    }
    let out = outFeatures ?? shape[0]
    let inp = inFeatures ?? shape[1]
    let w = try weights.weightValues(prefix + weightName, shape: [out, inp])
    let b =
      requireBias
      ? try weights.floats(prefix + biasName, shape: [out])
      : try weights.optionalFloats(prefix + biasName, shape: [out])
    let lowRank = try LowRankAdapter.load(weights, prefix: prefix, inFeatures: inp, outFeatures: out)
    self.init(weight: w, bias: b, outFeatures: out, inFeatures: inp, lowRank: lowRank, packing: weights.packing)
  }

  /// Computes `rows` outputs into `y` (`[rows × outFeatures]`, row stride `ldy`), overwriting it.
  func apply(
    _ x: UnsafePointer<Float>, rows: Int, ldx: Int? = nil, into y: UnsafeMutablePointer<Float>, ldy: Int? = nil
  ) {
    let ly = ldy ?? outFeatures
    if let lowRank {
      lowRank.apply(x, rows: rows, ldx: ldx ?? inFeatures, into: y, ldy: ly, weight: weight, bias: bias)
      return
    }
    withOptionalPointer(bias) { b in
      weight.multiply(
        rows: rows, a: MatrixOperand(x, rowStride: ldx ?? inFeatures), c: y, ldc: ly, overwrite: true, bias: b)
    }
  }

  /// Adds `x·Wᵀ + b` to `y`, which already holds a residual.
  func accumulate(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>) {
    if lowRank != nil {
      let z = uninitializedFloats(rows * outFeatures) { apply(x, rows: rows, into: $0) }
      for i in 0..<(rows * outFeatures) { y[i] += z[i] }
      return
    }
    if let bias {
      bias.withUnsafeBufferPointer { b in
        guard let bp = b.baseAddress else { return }
        for r in 0..<rows { RowKernels.addInPlace(y + r * outFeatures, bp, count: outFeatures) }
      }
    }
    weight.multiply(rows: rows, a: MatrixOperand(x, rowStride: inFeatures), c: y, ldc: outFeatures)
  }

  /// Applies the layer to the last dimension of `x`.
  ///
  /// - Throws: `invalidArgument` when the last dimension is not ``inFeatures``.
  public func forward(_ x: FloatTensor) throws(GraftError) -> FloatTensor {
    guard x.shape.last == inFeatures else {
      throw GraftError(.invalidArgument, "input of shape \(x.shape); expected last dimension \(inFeatures)")
    }
    let rows = x.count / max(inFeatures, 1)
    let out = x.values.withUnsafeBufferPointer { xb in
      uninitializedFloats(rows * outFeatures) { y in
        if let xp = xb.baseAddress { apply(xp, rows: rows, into: y) } else { y.update(repeating: 0, count: 0) }
      }
    }
    return FloatTensor(unchecked: Array(x.shape.dropLast()) + [outFeatures], values: out)
  }
}

/// A Linear's `Wᵀ` as the GEMM's right operand: packed once, or row-major `W` packed by each product.
enum LinearWeight: Sendable {
  /// Packed at build.
  case packed(PackedMatrix)
  /// `W[out × in]` row-major, packed per call (bit-identical products, see ``WeightPacking/perCall``).
  case rowMajor(WeightValues, outFeatures: Int, inFeatures: Int)

  init(_ values: WeightValues, outFeatures: Int, inFeatures: Int, packing: WeightPacking) {
    switch packing {
    case .atBuild:
      self = .packed(
        values.withUnsafePointer { PackedMatrix(transposing: $0, outFeatures: outFeatures, inFeatures: inFeatures) })
    case .perCall: self = .rowMajor(values, outFeatures: outFeatures, inFeatures: inFeatures)
    }
  }

  /// `C += A·Wᵀ` for `rows` rows, or with `overwrite`, `C = A·Wᵀ + bias`.
  func multiply(
    rows: Int, a: MatrixOperand, c: UnsafeMutablePointer<Float>, ldc: Int, overwrite: Bool = false,
    bias: UnsafePointer<Float>? = nil
  ) {
    switch self {
    case .packed(let b):
      GEMM.multiply(m: rows, a: a, b: b, c: c, ldc: ldc, overwrite: overwrite, bias: bias)
    case .rowMajor(let values, let out, let inp):
      values.withUnsafePointer { w in
        GEMM.multiply(
          m: rows, n: out, k: inp, a: a, b: MatrixOperand(w, rowStride: 1, colStride: inp), c: c, ldc: ldc,
          overwrite: overwrite, bias: bias)
      }
    }
  }
}
