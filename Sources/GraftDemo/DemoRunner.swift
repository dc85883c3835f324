import Graft

/// Runs `graft demo`: the main job on the embedded default model, step by step, with a readable report.
///
/// Every step checks its own result (byte-identical round trips, diffs that must match, verifications that must
/// pass); a failed check marks the step failed and the demo exits non-zero.
public final class DemoRunner {
  /// One step's outcome.
  public struct Step: Sendable {
    /// What the step did.
    public var title: String
    /// Whether its check passed.
    public var passed: Bool
    /// Result lines.
    public var lines: [String]
    /// Wall time in milliseconds.
    public var milliseconds: Double
  }

  /// The folder the demo writes into.
  public let workFolder: String
  /// Where committed fixtures live (for the torch-made checkpoints), if available.
  public let fixturesFolder: String?
  private(set) var steps: [Step] = []
  private let output: (String) -> Void

  /// Creates a runner writing into `workFolder`, printing each step through `output` as it finishes.
  ///
  /// - Parameter workFolder: where the demo's files go (created if missing); `nil` makes a fresh folder under `/tmp`.
  public init(workFolder: String?, fixturesFolder: String?, output: @escaping (String) -> Void) throws {
    let folder = workFolder ?? "/tmp/graft-demo-\(UInt32.random(in: 0...UInt32.max))"
    try FileSystem.makeDirectory(folder)
    self.workFolder = folder
    self.fixturesFolder = fixturesFolder
    self.output = output
  }

  private func step(_ title: String, _ body: () throws -> (Bool, [String])) {
    let t0 = FileSystem.monotonicNanoseconds()
    var result: Step
    do {
      let (ok, lines) = try body()
      result = Step(title: title, passed: ok, lines: lines, milliseconds: 0)
    } catch {
      result = Step(title: title, passed: false, lines: ["error: \(error)"], milliseconds: 0)
    }
    result.milliseconds = Double(FileSystem.monotonicNanoseconds() - t0) / 1e6
    steps.append(result)
    output(
      (result.passed ? "✔ " : "✘ ") + title + "  (" + Format.fixed(result.milliseconds, digits: 1) + " ms)")
    for l in result.lines { output("    " + l) }
  }

  private func path(_ name: String) -> String { workFolder + "/" + name }

  /// Runs every step; returns whether all passed.
  public func run() -> Bool {
    let model = DemoModel.vit()
    let source = path("vit.safetensors")
    step("write the embedded default model (tiny timm ViT, seeded) as safetensors") {
      let s = try Checkpoint.write(model, to: source)
      return (
        true,
        ["\(model.count) tensors, \(Format.grouped(model.parameterCount)) parameters → \(Format.bytes(s.bytesWritten))"]
      )
    }
    step("inspect it (headers only)") {
      let i = try Inspection.inspect(path: source)
      let t = i.table
      return (t?.count == model.count, ["\(i.detection.detail): \(t?.count ?? 0) tensors, \(Format.bytes(i.fileSize))"])
    }
    roundTrip(source: source, through: "vit.graft", back: "vit.roundtrip.safetensors", compress: true)
    for (name, label) in [("vit.pth", "PyTorch .pth"), ("vit.npz", "NumPy .npz")]
      + (HDF5Support.isAvailable ? [("vit.h5", "HDF5 .h5")] : [])
    {
      convertAndDiff(source: source, to: name, label: label)
    }
    step("shard into Hugging Face layout (--shard-size 100KB), read the index back, diff") {
      var o = ConversionOptions()
      o.write.shardSize = 100_000
      let r = try Conversion.run(input: source, output: path("sharded"), options: o)
      let back = try Checkpoint.read(path: path("sharded"))
      let d = try CheckpointDiff.compare(model, back)
      return (d.matches, ["\(r.summary.files.count) files written; diff: " + (d.matches ? "MATCH" : "DIFFERENT")])
    }
    let bf16 = path("vit-bf16.safetensors")
    step("cast to BF16 (round to nearest even, as torch) with a cast report") {
      var o = ConversionOptions()
      o.dtype = .bfloat16
      let r = try Conversion.run(input: source, output: bf16, options: o)
      let d = try CheckpointDiff.compare(model, try Checkpoint.read(path: bf16), atol: 0, rtol: 1.0 / 256)
      return (
        d.matches && r.casts.count == model.count,
        [
          "cast \(r.casts.count) tensors: \(r.totalCast.summary)",
          "diff vs F32 within rtol 2^-8 (bf16 half-ulp): " + (d.matches ? "MATCH" : "DIFFERENT"),
        ]
      )
    }
    step("verify every output (structure, every byte, .graft checksums)") {
      var lines: [String] = []
      var ok = true
      for name in ["vit.graft", "vit.pth", "vit.npz", "sharded", "vit-bf16.safetensors"] {
        let v = try VerificationReport.verify(path: path(name))
        ok = ok && v.isValid
        lines.append("\(name): " + (v.isValid ? "OK" : "INVALID") + (v.checksumsChecked ? " (checksums verified)" : ""))
      }
      return (ok, lines)
    }
    engineCheck(before: source, after: bf16)
    bundledFixtures()
    surgeryDemos()
    let passed = steps.filter(\.passed).count
    output("demo: \(passed) of \(steps.count) steps passed; files are in \(workFolder)")
    return passed == steps.count
  }

  private func roundTrip(source: String, through middle: String, back: String, compress: Bool) {
    step("convert safetensors → .graft (compressed, with lineage) → safetensors; compare bytes") {
      var o = ConversionOptions()
      o.write.compress = compress
      _ = try Conversion.run(input: source, output: path(middle), options: o)
      _ = try Conversion.run(input: path(middle), output: path(back))
      let a = try FileSystem.readAll(source)
      let b = try FileSystem.readAll(path(back))
      let lineage = try Checkpoint.read(path: path(middle)).lineage
      return (
        a == b,
        [
          "\(middle): \(Format.bytes(try FileSystem.size(of: path(middle)))), lineage: "
            + lineage.map(\.operation).joined(separator: " → "),
          "round trip: " + (a == b ? "byte-identical (\(a.count) bytes)" : "DIFFERENT bytes"),
        ]
      )
    }
  }

  private func convertAndDiff(source: String, to name: String, label: String) {
    step("convert safetensors → \(label), read it back, diff") {
      let r = try Conversion.run(input: source, output: path(name))
      let d = try CheckpointDiff.compare(try Checkpoint.read(path: source), try Checkpoint.read(path: path(name)))
      return (
        d.matches,
        [
          "\(Format.bytes(r.summary.bytesWritten)) written; diff: "
            + (d.matches ? "MATCH (\(d.common.count) tensors bit-identical)" : "DIFFERENT")
        ]
      )
    }
  }

  private func engineCheck(before: String, after: String) {
    step("run both models in the built-in engine on the same seeded images and compare (graft check)") {
      var options = CheckOptions(batch: 4, seed: 7, atol: 1e-4, rtol: 2e-2)
      options.model.heads = DemoModel.Configuration().heads
      let report = try CheckWorkflow.compare(before: before, after: after, options: options)
      return (report.passed, report.lines)
    }
  }

  private func bundledFixtures() {
    guard let fixtures = fixturesFolder else { return }
    let torchFile = fixtures + "/pytorch/detectron2.pth"
    if FileSystem.exists(torchFile) {
      step("torch-made detectron2 training checkpoint (.pth): pick `model`, drop trainer/optimizer, write safetensors")
      {
        let archive = try PyTorchCheckpoint.open(path: torchFile)
        var o = ConversionOptions()
        o.read.select = "model"
        let r = try Conversion.run(input: torchFile, output: path("detectron2-model.safetensors"), options: o)
        let candidates = archive.stateDictCandidates.map { "\($0.path) (\($0.tensorCount))" }.joined(separator: ", ")
        return (
          r.tensorsOut > 0,
          [
            "state dicts found: \(candidates)",
            "selected `model`: \(r.tensorsOut) tensors → detectron2-model.safetensors",
          ]
        )
      }
    }
    let malicious = fixtures + "/pytorch/malicious.pth"
    if FileSystem.exists(malicious) {
      step("a malicious pickle (os.system payload) is read without executing anything; its callables are flagged") {
        let archive = try PyTorchCheckpoint.open(path: malicious)
        let dangerous = archive.referencedGlobals.filter(\.isDangerous).map(\.name)
        let table = try archive.table(select: nil, stripPrefixes: [])
        return (
          !dangerous.isEmpty,
          [
            "dangerous globals (never called): " + dangerous.joined(separator: ", "),
            "tensors still extracted: \(table.count)",
          ]
        )
      }
    }
    let keras = fixtures + "/hdf5/keras3.weights.h5"
    if FileSystem.exists(keras) && HDF5Support.isAvailable {
      step("a Keras 3 .weights.h5 (written by Keras) → PyTorch names and layouts → safetensors") {
        let table = try Checkpoint.read(path: keras)
        let torchStyle = try KerasLayout.toPyTorch(table)
        try Checkpoint.write(torchStyle, to: path("keras-as-torch.safetensors"))
        let names = torchStyle.names.prefix(3).joined(separator: ", ")
        return (torchStyle.count > 0, ["\(table.count) Keras variables → \(torchStyle.count) tensors: \(names), …"])
      }
    }
  }

  private func surgeryDemos() {
    step("MoE: upcycle the dense ViT into experts and check the exactness table in the engine") {
      let folder = path("moe")
      try FileSystem.makeDirectory(folder)
      return try MoEDemo.run(workFolder: folder)
    }
    step("LLM: upcycle a tiny Llama folder into a Mixtral folder (4 experts, top-2), prove the logits unchanged") {
      let folder = path("llm")
      try FileSystem.makeDirectory(folder)
      return try LLMDemo.run(workFolder: folder)
    }
    step("DenoiseRep: fuse the denoising layers into the Linears they follow, prove the model is unchanged") {
      let folder = path("denoiserep")
      try FileSystem.makeDirectory(folder)
      return try DenoiseRepDemo.run(workFolder: folder)
    }
    step("LoRA: merge a rank-4 adapter into the ViT, prove unmerged = merged per layer and end to end") {
      try LoRADemo.run(workFolder: path("lora"))
    }
    step("Mr.DETR: strip the auxiliary training routes, prove the primary route's outputs are identical") {
      let folder = path("mrdetr")
      try FileSystem.makeDirectory(folder)
      let (passed, lines) = try MrDETRDemo.run(workFolder: folder)
      // The full report repeats per scenario; the demo keeps each scenario's headline, what was removed and the checks.
      let keep = [
        "✔", "✘", "removed ", "tiny ", "R50", "Mr. DETR", "check ", "strict manifest", "kept bytes", "engine ", "PASS",
        "FAIL",
      ]
      return (
        passed,
        lines.filter { line in
          let t = line.drop { $0 == " " }
          return keep.contains { t.hasPrefix($0) }
        }
      )
    }
  }
}
