public import Graft

/// A self-contained DenoiseRep demonstration: a tiny TransReID-style ViT built in memory, fused, verified, stripped.
public enum DenoiseRepDemo {
  /// Builds a small DenoiseRep checkpoint: a timm ViT under `base.` (16×16 images, 8×8 patches) whose MLP Linears
  /// are wrapped like `convert_vit_denoise_linear` does (twelve buffers, `time_mlp`, `dm`), unfused.
  public static func sampleCheckpoint(
    depth: Int = 2, width: Int = 32, heads: Int = 2, seed: UInt64 = 7
  )
    -> TensorTable
  {
    let schedule = DenoiseRep.scheduleBuffers()
    func wrapped(_ vit: inout SampleViT, _ p: String, out: Int, in inputs: Int) {
      vit.linear(p, out: out, in: inputs)
      for (name, values) in schedule {
        try? vit.table.append(p + "." + name, Tensor(float32: values, shape: [values.count]))
      }
      // nn.Linear's default init, U(−1/√fan_in, 1/√fan_in), approximated by a normal of the same variance.
      vit.add(p + ".time_mlp.1.weight", [inputs, 2048], scale: 1 / Float(3 * 2048).squareRoot())
      vit.add(p + ".time_mlp.1.bias", [inputs], scale: 1 / Float(3 * 2048).squareRoot())
      vit.add(p + ".time_mlp.3.weight", [inputs, inputs], scale: 1 / Float(3 * inputs).squareRoot())
      vit.add(p + ".time_mlp.3.bias", [inputs], scale: 1 / Float(3 * inputs).squareRoot())
      vit.add(p + ".dm.weight", [inputs, inputs], scale: 1 / Float(3 * inputs).squareRoot())
      vit.add(p + ".dm.bias", [inputs], scale: 1 / Float(3 * inputs).squareRoot())
    }
    var vit = SampleViT(prefix: "base.", depth: depth, width: width, seed: seed) { vit, mlp in
      wrapped(&vit, mlp + ".fc1", out: 2 * width, in: width)
      wrapped(&vit, mlp + ".fc2", out: width, in: 2 * width)
    }
    vit.add("classifier.weight", [5, width], scale: 1 / Float(width).squareRoot())
    var t = vit.table
    t.metadata["num_heads"] = .string(String(heads))
    // timm's constructor arguments of the backbone (the rest are timm's defaults).
    t.metadata["timm_args"] = .string(#"{"img_size": 16, "patch_size": 8, "num_classes": 0}"#)
    return t
  }

  /// Fuses the sample in every mode, verifies the `mean` fusion layer by layer and end to end with the engine, shows
  /// that the modes differ far above float32 noise, and strips a released-style copy.
  ///
  /// IO-free: `workFolder` is accepted for the demo runner's uniform signature and nothing is written to it.
  ///
  /// - Returns: whether every check passed, and the lines to print.
  public static func run(workFolder: String) throws -> (passed: Bool, lines: [String]) {
    let unfused = sampleCheckpoint()
    var lines: [String] = []
    var options = DenoiseRep.FuseOptions()
    options.product = DenoiseRepKernels.product
    options.seed = 1
    let layers = try DenoiseRep.findLayers(in: unfused)
    lines.append(
      "DenoiseRep: tiny TransReID-style ViT, \(layers.count) wrapped Linears, \(unfused.count) tensors "
        + "(\(unfused.storedByteCount) bytes) before fusion")
    var passed = true
    var fusedByMode: [DenoiseRep.Mode: TensorTable] = [:]
    // The ReID classifier after the backbone is no part of the ViT the engine runs: listed as unused, not refused.
    var model = VisionTransformer.Options()
    model.ignoreUnused = true
    for mode in DenoiseRep.Mode.allCases {
      options.mode = mode
      let (fused, report) = try DenoiseRep.fuse(unfused, options: options)
      fusedByMode[mode] = fused
      if mode == .mean {
        lines.append(
          "fuse --mode mean: removed \(report.removed.count) leftover tensors (\(report.removedBytes) bytes); "
            + "T map " + report.tMap.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
      }
      let check = try DenoiseRepCheck.verify(
        unfused: unfused, fused: fused, report: report, fuseOptions: options, model: model)
      if mode == .mean || !check.passed { lines += check.lines }
      passed = passed && check.passed
    }
    // A mode mix-up must be visible: compare the fused biases of the three modes.
    func gap(_ a: DenoiseRep.Mode, _ b: DenoiseRep.Mode) -> Double {
      var worst = 0.0
      for layer in layers {
        let name = layer.prefix + ".bias"
        guard let x = fusedByMode[a]?[name], let y = fusedByMode[b]?[name],
          let xv = try? DenoiseRepCheck.floats(x), let yv = try? DenoiseRepCheck.floats(y)
        else { return .nan }
        worst = max(worst, zip(xv, yv).map { Double(abs($0 - $1)) }.max() ?? 0)
      }
      return worst
    }
    let gaps = [(DenoiseRep.Mode.mean, DenoiseRep.Mode.exact), (.mean, .compat), (.compat, .exact)]
    for (a, b) in gaps {
      let g = gap(a, b)
      let ok = g > 1e-4
      passed = passed && ok
      lines.append(
        "modes \(a.rawValue) vs \(b.rawValue): fused biases differ by up to \(Format.scientific(g)) "
          + (ok ? "(≫ float32 noise: ok)" : "(too close to tell apart: FAIL)"))
    }
    // Released checkpoints were fused in place with their leftovers kept; strip removes them.
    options.mode = .compat
    options.keepLeftovers = true
    let released = try DenoiseRep.fuse(unfused, options: options).table
    let (clean, strip) = try DenoiseRep.strip(released)
    let stripOK = clean.names == fusedByMode[.compat]?.names
    passed = passed && stripOK
    lines.append(
      "strip (released-style copy): removed \(strip.removed.count) tensors (\(strip.removedBytes) bytes), kept "
        + "\(strip.kept) (\(strip.keptBytes) bytes); key set equals the fused output: \(stripOK ? "yes" : "NO")")
    lines.append(passed ? "DenoiseRep demo: PASS" : "DenoiseRep demo: FAIL")
    return (passed, lines)
  }
}

extension DenoiseRepCheck {
  /// The values of an F32/F16/BF16/F64 tensor as floats.
  static func floats(_ tensor: Tensor) throws -> [Float] {
    var t = TensorTable()
    try t.append("x", tensor)
    return try WeightLoader(table: t).floats("x", shape: tensor.shape)
  }
}
