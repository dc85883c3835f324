public import GraftCore

/// A fully connected layer `y = x·Wᵀ + b` with PyTorch's weight layout `W[out × in]`, packed once for the GEMM.
public struct Linear: Sendable {
  /// Input features.
  public let inFeatures: Int
  /// Output features.
  public let outFeatures: Int
  let packed: PackedMatrix
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
    // An empty weight (zero features) is never read; one placeholder value gives the packer a valid address.
    let source = weight.isEmpty ? [0] : weight
    packed = source.withUnsafeBufferPointer { w in
      PackedMatrix(transposing: w.baseAddress.unsafelyUnwrapped, outFeatures: outFeatures, inFeatures: inFeatures)
    }
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
    let w = try weights.floats(prefix + weightName, shape: [out, inp])
    let b =
      requireBias
      ? try weights.floats(prefix + biasName, shape: [out])
      : try weights.optionalFloats(prefix + biasName, shape: [out])
    let lowRank = try LowRankAdapter.load(weights, prefix: prefix, inFeatures: inp, outFeatures: out)
    self.init(weight: w, bias: b, outFeatures: out, inFeatures: inp, lowRank: lowRank)
  }

  /// Computes `rows` outputs into `y` (`[rows × outFeatures]`, row stride `ldy`), overwriting it.
  func apply(
    _ x: UnsafePointer<Float>, rows: Int, ldx: Int? = nil, into y: UnsafeMutablePointer<Float>, ldy: Int? = nil
  ) {
    let ly = ldy ?? outFeatures
    if let lowRank {
      lowRank.apply(x, rows: rows, ldx: ldx ?? inFeatures, into: y, ldy: ly, weight: packed, bias: bias)
      return
    }
    withOptionalPointer(bias) { b in
      GEMM.multiply(
        m: rows, a: MatrixOperand(x, rowStride: ldx ?? inFeatures), b: packed, c: y, ldc: ly, overwrite: true, bias: b)
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
    GEMM.multiply(m: rows, a: MatrixOperand(x, rowStride: inFeatures), b: packed, c: y, ldc: outFeatures)
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
