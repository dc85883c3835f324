public import GraftCore

/// An unmerged LoRA path on a Linear, run explicitly: `y = W·x + b + up·(down·x)`, or DoRA's
/// `y = b + f ⊙ (W·x + up·(down·x))` with the per-output factor `f = m/‖W + up·down‖`.
///
/// ``Linear`` picks one up when the table holds `<layer>.lora_unmerged.down` (`[R, in]`) and
/// `<layer>.lora_unmerged.up` (`[out, R]`, already multiplied by the scaling and combination weight), plus
/// `<layer>.lora_unmerged.scale` (`[out]`) for DoRA. These names are Graft's own (no checkpoint carries them): the
/// LoRA check writes them next to the base weights so any model built from Linears runs base + adapter unmerged.
public struct LowRankAdapter: Sendable {
  /// The name of the `[R, in]` factor, after the layer prefix.
  public static let downName = "lora_unmerged.down"
  /// The name of the `[out, R]` factor (scaled), after the layer prefix.
  public static let upName = "lora_unmerged.up"
  /// The name of DoRA's `[out]` output factor, after the layer prefix.
  public static let scaleName = "lora_unmerged.scale"

  /// The total rank R.
  public let rank: Int
  let down: PackedMatrix
  let up: PackedMatrix
  let scale: [Float]?

  /// Creates the path from row-major `down` (`[rank, inFeatures]`), `up` (`[outFeatures, rank]`) and DoRA's factor.
  ///
  /// - Throws: `invalidModel` when the sizes disagree.
  public init(
    down: [Float], up: [Float], rank: Int, inFeatures: Int, outFeatures: Int, scale: [Float]?
  ) throws(GraftError) {
    guard rank > 0, down.count == rank * inFeatures, up.count == outFeatures * rank,
      (scale?.count ?? outFeatures) == outFeatures
    else {
      throw GraftError(
        .invalidModel,
        "LoRA factors of \(down.count) and \(up.count) values do not fit rank \(rank), \(inFeatures) → \(outFeatures)")
    }
    self.rank = rank
    self.down = down.withUnsafeBufferPointer {
      PackedMatrix(transposing: $0.baseAddress.unsafelyUnwrapped, outFeatures: rank, inFeatures: inFeatures)
    }
    self.up = up.withUnsafeBufferPointer {
      PackedMatrix(transposing: $0.baseAddress.unsafelyUnwrapped, outFeatures: outFeatures, inFeatures: rank)
    }
    self.scale = scale
  }

  /// Loads the path of the Linear at `prefix`, or `nil` when the table has none.
  static func load(
    _ weights: WeightLoader, prefix: String, inFeatures: Int, outFeatures: Int
  ) throws(GraftError) -> LowRankAdapter? {
    guard let shape = weights.shape(prefix + downName) else { return nil }
    guard shape.count == 2, shape[1] == inFeatures else {
      throw GraftError(
        .invalidModel, "has shape \(shape); expected [R, \(inFeatures)]", tensor: weights.fullName(prefix + downName))
    }
    let r = shape[0]
    return try LowRankAdapter(
      down: try weights.floats(prefix + downName, shape: [r, inFeatures]),
      up: try weights.floats(prefix + upName, shape: [outFeatures, r]), rank: r, inFeatures: inFeatures,
      outFeatures: outFeatures, scale: try weights.optionalFloats(prefix + scaleName, shape: [outFeatures]))
  }

  /// `y = W·x + b + up·(down·x)` (DoRA: `b + f ⊙ (…)`), overwriting `y` (`[rows × out]`, stride `ldy`).
  func apply(
    _ x: UnsafePointer<Float>, rows: Int, ldx: Int, into y: UnsafeMutablePointer<Float>, ldy: Int,
    weight: LinearWeight, bias: [Float]?
  ) {
    let out = up.cols
    let hidden = uninitializedFloats(rows * rank) { h in
      GEMM.multiply(m: rows, a: MatrixOperand(x, rowStride: ldx), b: down, c: h, ldc: rank, overwrite: true)
    }
    weight.multiply(rows: rows, a: MatrixOperand(x, rowStride: ldx), c: y, ldc: ldy, overwrite: true)
    hidden.withUnsafeBufferPointer { h in
      GEMM.multiply(m: rows, a: MatrixOperand(h.baseAddress.unsafelyUnwrapped, rowStride: rank), b: up, c: y, ldc: ldy)
    }
    for r in 0..<rows {
      let row = y + r * ldy
      if let scale {
        for j in 0..<out { row[j] *= scale[j] }
      }
      if let bias {
        for j in 0..<out { row[j] += bias[j] }
      }
    }
  }
}
