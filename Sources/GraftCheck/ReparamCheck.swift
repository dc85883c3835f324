public import GraftCore
import GraftEngine
public import GraftSurgery

/// Checks a re-parameterisation with the engine's convolution: every block run as at training time (each branch's
/// conv, then its BN in eval mode, summed) against its single fused convolution, on seeded inputs of the block's
/// channel count.
public enum ReparamCheck {
  /// The per-block bound, relative to `max|y|`: float32 rounding of the two computations.
  public static let tolerance = 1e-5

  /// Verifies ``Reparam/reparameterize(_:options:)``: `before` is its input, `after` its output.
  ///
  /// Stride and padding are not in a state dict and the fold does not depend on them: blocks run at stride 1 with
  /// "same" padding. Groups come from the identity branch; without one, the block runs as one group over its
  /// kernel's `in/groups` channels (the same per-group arithmetic).
  ///
  /// - Throws: `invalidModel` when a block's tensors cannot be read.
  public static func verify(
    before: TensorTable, after: TensorTable, report: Reparam.Report, seed: UInt64 = 0
  ) throws(GraftError) -> CheckReport {
    var rows: [CheckReport.Row] = []
    for (index, block) in report.blocks.enumerated() {
      let c = try compare(block, before: before, after: after, epsilon: report.epsilon, seed: seed &+ UInt64(index))
      let bound = tolerance * c.scale
      rows.append(
        CheckReport.Row(
          "\(block.kind.rawValue) \(block.prefix)", c.isComparable && c.maxAbs <= bound ? .passed : .failed,
          [
            "shape": .shape(block.shape), "groups": block.groups.map(CheckReport.Value.integer) ?? .text("1?"),
            "max_abs": .number(c.maxAbs, .scientific), "scale": .number(c.scale, .scientific),
            "bound": .number(bound, .scientific), "cosine": .number(c.cosine, .cosine),
          ],
          note: block.kind == .convBN ? "paired by " + block.rule : c.problem))
    }
    if !report.keptBatchNorms.isEmpty {
      rows.append(
        CheckReport.Row(
          "kept BatchNorms", .info, [:],
          note: "\(report.keptBatchNorms.count) left as they are: "
            + report.keptBatchNorms.prefix(4).joined(separator: ", ") + (report.keptBatchNorms.count > 4 ? ", …" : "")))
    }
    return CheckReport(
      kind: "reparam",
      header: [
        "re-parameterisation: training-time blocks (conv → BN(eval) per branch, summed) against the fused conv, "
          + "seeded input [2, C, H, W] per block, seed \(seed); BN ε = \(report.epsilon) (\(report.epsilonSource))",
        "bound: max|Δ| ≤ 1e-5·max|y|; whole network: not run (the engine has no conv-net model)",
      ],
      columns: columns, rows: rows, facts: JSONObject([("epsilon", .double(report.epsilon))]))
  }

  static let columns: [CheckReport.Column] = [
    .init("shape", "shape", width: 12, alignRight: false), .init("groups", "g", width: 3),
    .init("max_abs", "max|Δ|", width: 10), .init("scale", "max|y|", width: 10), .init("bound", "bound", width: 10),
    .init("cosine", "cosine", width: 14),
  ]

  /// One block at training time and fused, on the same input.
  static func compare(
    _ block: Reparam.Block, before: TensorTable, after: TensorTable, epsilon: Double, seed: UInt64
  ) throws(GraftError) -> TensorComparison {
    let groups = block.groups ?? 1
    let out = block.shape[0]
    let inputs = block.shape[1] * groups
    // A Linear (2-D) or Conv1d (3-D) runs as a 1×1 (or 1×k) convolution over a 1×1 (or 1×L) image.
    var kernel = Array(block.shape.dropFirst(2))
    while kernel.count < 2 { kernel.insert(1, at: 0) }
    let side = kernel.map { $0 == 1 && block.shape.count < 4 ? 1 : max(6, $0 + 2) }
    let x = ModelCheck.randomInput(shape: [2, inputs, side[0], side[1]], seed: seed)
    let fused = try conv(
      after, weight: block.outputWeight, bias: block.outputBias, out: out, inputs: inputs, kernel: kernel,
      groups: groups, x: x)
    let plane = fused.shape[2] * fused.shape[3]
    var sum = [Double](repeating: 0, count: fused.values.count)
    for branch in block.branches {
      var y: FloatTensor = x
      if let w = branch.weight {
        var small = branch.kernel
        while small.count < 2 { small.insert(1, at: 0) }
        y = try conv(
          before, weight: w, bias: branch.bias, out: out, inputs: inputs, kernel: small, groups: groups, x: x)
      }
      guard y.shape == fused.shape else {
        throw GraftError(
          .invalidModel, "a branch gives \(y.shape) but the fused conv \(fused.shape)", tensor: branch.norm.prefix)
      }
      let p = branch.norm.prefix + "."
      let mean = try DeployTensors.doubles(before, p + "running_mean")
      let variance = try DeployTensors.doubles(before, p + "running_var")
      let gamma = branch.norm.affine ? try DeployTensors.doubles(before, p + "weight") : Array(repeating: 1, count: out)
      let beta = branch.norm.affine ? try DeployTensors.doubles(before, p + "bias") : Array(repeating: 0, count: out)
      for (i, v) in y.values.enumerated() {
        let c = (i / plane) % out
        sum[i] += (Double(v) - mean[c]) / (variance[c] + epsilon).squareRoot() * gamma[c] + beta[c]
      }
    }
    return TensorComparison(sum.map(Float.init), fused.values, shapeBefore: fused.shape, shapeAfter: fused.shape)
  }

  private static func conv(
    _ table: TensorTable, weight: String, bias: String?, out: Int, inputs: Int, kernel: [Int], groups: Int,
    x: FloatTensor
  ) throws(GraftError) -> FloatTensor {
    let w = try DeployTensors.doubles(table, weight).map(Float.init)
    let b = try bias.map { n throws(GraftError) in try DeployTensors.doubles(table, n).map(Float.init) }
    let layer = try Conv2d(
      weight: w, bias: b, outChannels: out, inChannels: inputs, kernel: (kernel[0], kernel[1]), stride: (1, 1),
      padding: (kernel[0] / 2, kernel[1] / 2), groups: groups)
    return try layer.forward(x)
  }
}
