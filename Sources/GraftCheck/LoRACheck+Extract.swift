public import GraftCore
import GraftEngine
public import GraftSurgery

extension LoRACheck {
  /// Relative residuals above this mean the rank dropped real directions: the layer's row is informational (the
  /// extraction is then an approximation by construction), not a pass/fail equivalence.
  public static let exactResidual = 1e-6

  /// Verifies an extraction: each extracted layer run as base + `B·A·x` (scaling 1) against the tuned Linear.
  ///
  /// - Throws: `invalidModel` when a layer cannot be built.
  public static func verifyExtraction(
    base: TensorTable, tuned: TensorTable, adapter: TensorTable, report: LoRA.ExtractReport, rowsPerLayer: Int = 64,
    seed: UInt64 = 0
  ) throws(GraftError) -> CheckReport {
    var rows: [CheckReport.Row] = []
    for (index, m) in report.modules.enumerated() {
      let (o, i) = (m.shape[0], m.shape[1])
      let name = m.module + ".weight"
      let down = try DeployTensors.doubles(adapter, LoRA.keyPrefix + m.module + ".lora_A.weight")
      let up = try DeployTensors.doubles(adapter, LoRA.keyPrefix + m.module + ".lora_B.weight")
      let biasName = m.module + ".bias"
      let bias = try base[biasName].map { t throws(GraftError) in
        try DeployTensors.doubles(t, name: biasName).map(Float.init)
      }
      let lowRank = try LowRankAdapter(
        down: down.map(Float.init), up: up.map(Float.init), rank: m.rank, inFeatures: i, outFeatures: o, scale: nil)
      let before = Linear(
        weight: try DeployTensors.doubles(base, name).map(Float.init), bias: bias,
        outFeatures: o, inFeatures: i, lowRank: lowRank)
      let after = Linear(
        weight: try DeployTensors.doubles(tuned, name).map(Float.init), bias: bias,
        outFeatures: o, inFeatures: i)
      let x = ModelCheck.randomInput(shape: [rowsPerLayer, i], seed: seed &+ UInt64(index))
      let c = TensorComparison(before: try after.forward(x), after: try before.forward(x))
      var values = ModelCheck.row("", c, atol: 0, rtol: tolerance).values
      values["rank"] = .integer(m.rank)
      values["shape"] = .shape(m.shape)
      values["cast"] = .number(m.relativeResidual, .scientific)
      let lossy = m.relativeResidual > exactResidual
      let outcome: CheckReport.Outcome =
        lossy ? .info : (c.isComparable && c.maxAbs <= tolerance * c.scale ? .passed : .failed)
      rows.append(
        CheckReport.Row(
          "layer " + m.module, outcome, values,
          note: lossy
            ? "rank \(m.rank) truncates: ‖ΔW − B·A‖/‖ΔW‖ = \(Format.scientific(m.relativeResidual)) (an approximation)"
            : nil))
    }
    for u in report.unrepresented {
      rows.append(
        CheckReport.Row(
          "not in adapter " + u.name, .info, ["max_abs": .number(u.maxAbs, .scientific)],
          note: "differs between the checkpoints but is not a targeted Linear weight: the adapter does not carry it"))
    }
    return CheckReport(
      kind: "lora",
      header: [
        "LoRA extraction: base W·x + b + B·A·x against tuned W_t·x + b (\(rowsPerLayer) random rows per layer, seed "
          + "\(seed))",
        "bound: max|Δ| ≤ 1e-5·max|y| where the rank keeps ΔW (residual ≤ 1e-6); 'cast' is ‖ΔW − B·A‖_F/‖ΔW‖_F",
      ],
      columns: columns, rows: rows)
  }
}
