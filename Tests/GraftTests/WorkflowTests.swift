import Graft
import GraftDemo
import TestSupport
import Testing

/// Every workflow the CLI runs, called as a library user calls it.
@Suite("Workflows as library calls")
struct WorkflowTests {
  @Test("MoE upcycle: verified, written, and the manifest only when asked")
  func moeUpcycle() throws {
    let dir = try TestPaths.scratchFolder("wf-moe")
    try Checkpoint.write(DemoModel.vit(), to: dir + "/vit.safetensors")
    var o = MoEWorkflow.UpcycleOptions(input: dir + "/vit.safetensors", output: dir + "/moe.safetensors")
    o.upcycle.experts = 4
    o.common.model.heads = 2
    let result = try MoEWorkflow.upcycle(o)
    #expect(result.passed, "\(result.lines.joined(separator: "\n"))")
    #expect(result.written != nil)
    #expect(result.checks?.kind == "moe")
    #expect(!FileSystem.exists(dir + "/moe.safetensors.moe.json"))
    o.common.manifestPath = dir + "/manifest.json"
    o.common.output.path = dir + "/moe2.safetensors"
    let again = try MoEWorkflow.upcycle(o)
    let manifest = try JSONParser.parse(String(decoding: try FileSystem.readAll(dir + "/manifest.json"), as: UTF8.self))
    #expect(manifest.objectValue?["verification"]?.objectValue?["passed"]?.boolValue == true)
    #expect(again.manifestPath == dir + "/manifest.json")
    // Determinism: the same options give the same bytes.
    #expect(try FileSystem.readAll(dir + "/moe.safetensors") == FileSystem.readAll(dir + "/moe2.safetensors"))
  }

  @Test("MoE recycle reads calibration images from any format, detected from content")
  func moeRecycleCalibration() throws {
    let dir = try TestPaths.scratchFolder("wf-recycle")
    try Checkpoint.write(DemoModel.vit(), to: dir + "/vit.safetensors")
    let images = ModelCheck.randomInput(shape: [2, 3, 32, 32], seed: 5)
    // A .npy saved under a misleading name still reads as NumPy.
    try FloatTensorFile.write(images, to: dir + "/images.npy")
    try FileSystem.writeAll(try FileSystem.readAll(dir + "/images.npy"), to: dir + "/images.dat")
    var o = MoEWorkflow.RecycleOptions(input: dir + "/vit.safetensors", output: dir + "/moe.graft")
    o.recycle.experts = 4
    o.recycle.ratio = 0.25
    o.recycle.strategy = .importanceL2
    o.statistics = .calibration(dir + "/images.dat")
    o.common.model.heads = 2
    let result = try MoEWorkflow.recycle(o)
    #expect(result.passed, "\(result.lines.joined(separator: "\n"))")
    #expect(result.summary.contains { $0.contains("calibration") && $0.contains("[2, 3, 32, 32]") })
  }

  @Test(
    "MoE recycle, generic layout: overlapping subsets are reported as information and the output is written",
    arguments: [MoERecycleStrategy.importanceL2, .random, .uniform, .coactivation])
  func moeRecycleGenericOverlap(strategy: MoERecycleStrategy) throws {
    let dir = try TestPaths.scratchFolder("wf-recycle-generic")
    try Checkpoint.write(DemoModel.vit(), to: dir + "/vit.safetensors")
    var o = MoEWorkflow.RecycleOptions(input: dir + "/vit.safetensors", output: dir + "/moe.safetensors")
    o.recycle.layout = .generic
    o.recycle.experts = 4
    o.recycle.ratio = 0.5
    o.recycle.strategy = strategy
    o.statistics = strategy == .importanceL2 || strategy == .coactivation ? .synthetic(2) : .none
    o.common.model.heads = 2
    let result = try MoEWorkflow.recycle(o)
    #expect(result.passed && result.written != nil, "\(result.lines.joined(separator: "\n"))")
    let overlap = result.checks?.rows.filter { $0.name.hasSuffix("vs dense") } ?? []
    #expect(!overlap.isEmpty)
    #expect(overlap.allSatisfy { $0.outcome == .info && $0.note?.contains("not a partition") == true })
    // No manifest file unless one is asked for (item 9).
    #expect(try FileSystem.contents(of: dir).sorted() == ["moe.safetensors", "vit.safetensors"])
  }

  @Test("DenoiseRep fuse: the fast and the float64 products both pass and agree")
  func denoiseRepFuse() throws {
    let dir = try TestPaths.scratchFolder("wf-denoiserep")
    var o = DenoiseRepWorkflow.FuseOptions(
      input: TestPaths.fixture("denoiserep/reid-unfused.safetensors"), output: dir + "/fast.safetensors")
    // The ReID classifier is no part of the ViT backbone the engine runs.
    o.model.ignoreUnused = true
    let fast = try DenoiseRepWorkflow.fuse(o)
    #expect(fast.passed && fast.written != nil, "\(fast.lines.joined(separator: "\n"))")
    o.precision = .float64
    o.output.path = dir + "/slow.safetensors"
    let slow = try DenoiseRepWorkflow.fuse(o)
    #expect(slow.passed)
    let diff = try CheckpointDiff.compare(
      Checkpoint.read(path: dir + "/fast.safetensors"), Checkpoint.read(path: dir + "/slow.safetensors"), atol: 1e-6,
      rtol: 1e-6)
    #expect(diff.matches)
  }

  @Test("Mr.DETR strip: read back and engine checks pass on the torch-made training checkpoint")
  func mrdetrStrip() throws {
    let dir = try TestPaths.scratchFolder("wf-mrdetr")
    var o = MrDETRWorkflow.StripOptions(input: TestPaths.fixture("mrdetr/tiny_train.pth"), output: dir + "/deploy.pth")
    o.heads = 4
    let result = try MrDETRWorkflow.strip(o)
    #expect(result.passed, "\(result.lines.joined(separator: "\n"))")
    #expect(result.checks?.row("read back")?.outcome == .passed)
  }

  @Test("run: one pass is timed cold; more passes follow one warm-up")
  func run() throws {
    var o = RunWorkflow.Options(checkpoint: TestPaths.fixture("engine/vit_token.safetensors"))
    o.input = .random(batch: 1, seed: 3)
    #expect(try RunWorkflow.run(o).forwardSeconds.count == 1)
    o.repetitions = 3
    let r = try RunWorkflow.run(o)
    #expect(r.forwardSeconds.count == 3)
    #expect(r.lines.last?.contains("after one warm-up") == true)
  }

  @Test("check: a model-building error names the file it came from")
  func checkNamesFile() throws {
    let dir = try TestPaths.scratchFolder("wf-check")
    var t = TensorTable()
    try t.append("w", Tensor(float32: [1, 2], shape: [2]))
    try Checkpoint.write(t, to: dir + "/notvit.safetensors")
    let vit = TestPaths.fixture("engine/vit_token.safetensors")
    #expect {
      _ = try CheckWorkflow.compare(before: vit, after: dir + "/notvit.safetensors")
    } throws: { error in
      (error as? GraftError)?.file == dir + "/notvit.safetensors"
    }
    #expect(try CheckWorkflow.compare(before: vit, after: vit).passed)
  }

  @Test("errors say which side failed: an unwritable output is the output's, a corrupt input the input's")
  func errorSides() throws {
    let dir = try TestPaths.scratchFolder("wf-sides")
    let vit = TestPaths.fixture("engine/vit_token.safetensors")
    #expect {
      try Conversion.run(input: vit, output: dir + "/missing-folder/out.safetensors")
    } throws: { error in
      (error as? GraftError)?.side == .output
    }
    try FileSystem.writeAll(Array("garbage, not a checkpoint".utf8), to: dir + "/bad.safetensors")
    #expect {
      try Conversion.run(input: dir + "/bad.safetensors", output: dir + "/out.safetensors")
    } throws: { error in
      (error as? GraftError)?.side == .input
    }
  }
}
