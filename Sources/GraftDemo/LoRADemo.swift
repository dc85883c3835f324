public import Graft

/// A self-contained LoRA demonstration: the demo ViT and a rank-4 adapter built in memory, merged, verified
/// unmerged against merged in the engine, and extracted back by SVD.
public enum LoRADemo {
  /// A peft-style adapter for `base` (`base_model.model.<module>.lora_A/B.weight`) on every qkv and fc1, seeded.
  public static func sampleAdapter(for base: TensorTable, rank: Int = 4, seed: UInt64 = 11) -> LoRA.Adapter {
    var rng = SplitMix64(seed: seed)
    var tensors = TensorTable()
    for name in base.names where name.hasSuffix("attn.qkv.weight") || name.hasSuffix("mlp.fc1.weight") {
      guard let shape = base[name]?.shape else { continue }
      let module = LoRA.keyPrefix + String(name.dropLast(".weight".count))
      let a = rng.floats(rank * shape[1], scale: 0.2)
      let b = rng.floats(shape[0] * rank, scale: 0.2)
      try? tensors.append(module + ".lora_A.weight", Tensor(float32: a, shape: [rank, shape[1]]))
      try? tensors.append(module + ".lora_B.weight", Tensor(float32: b, shape: [shape[0], rank]))
    }
    var config = LoRA.AdapterConfig(r: rank, alpha: 2 * Double(rank))
    config.targetModules = .names(["qkv", "fc1"])
    return LoRA.Adapter(label: "demo-lora", config: config, tensors: tensors)
  }

  /// Merges the sample adapter into a small demo ViT, verifies it, and extracts it back.
  ///
  /// IO-free: `workFolder` is accepted for the demo runner's uniform signature and nothing is written to it.
  ///
  /// - Returns: whether every check passed, and the lines to print.
  public static func run(workFolder: String) throws -> (passed: Bool, lines: [String]) {
    var c = DemoModel.Configuration()
    c.width = 32
    c.image = 16
    let base = DemoModel.vit(c)
    let adapter = sampleAdapter(for: base)
    let (merged, report) = try LoRA.merge(base, adapters: [adapter])
    let check = try LoRACheck.verify(
      base: base, merged: merged, report: report, adapters: [adapter], model: VisionTransformer.Options(heads: c.heads))
    var lines = [
      "LoRA: rank-4 adapter on \(report.modules.count) Linears (qkv, fc1) of the demo ViT, merged in float64"
    ]
    lines += check.lines
    let (_, _, extracted) = try LoRA.extract(base: base, tuned: merged, options: LoRA.ExtractOptions(rank: 4))
    let residual = extracted.modules.map(\.relativeResidual).max() ?? .infinity
    let roundTrip = residual < 1e-6
    lines.append(
      "extract --rank 4 from (base, merged): \(extracted.modules.count) modules, worst ‖ΔW − B·A‖/‖ΔW‖ = "
        + Format.scientific(residual) + (roundTrip ? " (float32 rounding: ok)" : " (FAIL)"))
    return (check.passed && roundTrip, lines)
  }
}
