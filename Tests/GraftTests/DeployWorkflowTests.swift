import Graft
import TestSupport
import Testing

/// The deployment workflows as a library user calls them, on the committed fixtures.
@Suite("Deployment workflows")
struct DeployWorkflowTests {
  static func fixture(_ name: String) -> String { TestPaths.fixture("deploy/" + name) }

  /// The largest |a − b| / max|b| over every tensor of two checkpoints with the same names.
  static func relativeDistance(_ a: String, _ b: String) throws -> Double {
    let x = try Checkpoint.read(path: a)
    let y = try Checkpoint.read(path: b)
    #expect(Set(x.names) == Set(y.names))
    var worst = 0.0
    for name in y.names {
      let p = try DeployTensors.doubles(x, name)
      let q = try DeployTensors.doubles(y, name)
      let scale = q.map(abs).max() ?? 0
      worst = max(worst, (zip(p, q).map { abs($0 - $1) }.max() ?? 0) / max(scale, 1e-30))
    }
    return worst
  }

  @Test("lora merge on a Hugging Face Llama folder: verified, written, within 1e-5 of peft; deterministic")
  func loraMerge() throws {
    let dir = try TestPaths.scratchFolder("wf-lora")
    let o = LoRAWorkflow.MergeOptions(
      base: Self.fixture("llama-base"), adapters: [.init(parsing: Self.fixture("llama-lora") + ":1")],
      output: dir + "/merged.safetensors")
    let result = try LoRAWorkflow.merge(o)
    #expect(result.passed && result.written != nil, "\(result.lines.joined(separator: "\n"))")
    // The whole decoder with the adapter unmerged (W·x + s·B·A·x in every projection) against the merged weights.
    #expect(result.checks?.row("model logits")?.outcome == .passed, "\(result.lines.joined(separator: "\n"))")
    // And the merged folder's logits against peft's merge_and_unload() on the same ids.
    let io = try Checkpoint.read(path: Self.fixture("llama-io.safetensors"))
    let ids = try #require(io["input_ids"])
    let idValues = try ids.withUnsafeBytes { raw in
      (0..<ids.elementCount).map {
        Int32(truncatingIfNeeded: raw.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self))
      }
    }
    let folder = try HuggingFaceFolder.open(Self.fixture("llama-base"))
    let merged = try CausalLM(
      configuration: folder.llmConfiguration(), weights: Checkpoint.read(path: dir + "/merged.safetensors"))
    let logits = try merged.forward(tokens: [Array(idValues[0..<6]), Array(idValues[6..<12])]).logits
    let peft = try floatValues(#require(io["logits.merged"]))
    let scale = peft.map(abs).max() ?? 1
    let worst = zip(logits.values, peft).map { abs($0 - $1) }.max() ?? .infinity
    #expect(worst <= 1e-5 * scale, "engine vs peft merged logits: \(worst) of \(scale)")
    #expect(try Self.relativeDistance(dir + "/merged.safetensors", Self.fixture("llama-merged.safetensors")) < 1e-5)
    var again = o
    again.output.path = dir + "/again.safetensors"
    _ = try LoRAWorkflow.merge(again)
    #expect(try FileSystem.readAll(dir + "/merged.safetensors") == FileSystem.readAll(dir + "/again.safetensors"))
  }

  @Test("an adapter saved as adapter_model.bin (a torch pickle) reads and merges like the safetensors one")
  func binAdapter() throws {
    let dir = try TestPaths.scratchFolder("wf-bin")
    let source = try LoRAWorkflow.readAdapter(.init(path: Self.fixture("vit-lora")))
    try FileSystem.writeAll(
      try FileSystem.readAll(Self.fixture("vit-lora/adapter_config.json")), to: dir + "/adapter_config.json")
    try Checkpoint.write(source.tensors, to: dir + "/adapter_model.bin", format: .pytorch)
    let bin = try LoRAWorkflow.readAdapter(.init(path: dir))
    #expect(bin.tensors.names == source.tensors.names)
    let o = LoRAWorkflow.MergeOptions(
      base: Self.fixture("vit-base.safetensors"), adapters: [.init(path: dir)], output: dir + "/m.safetensors")
    #expect(try LoRAWorkflow.merge(o).passed)
    #expect(try Self.relativeDistance(dir + "/m.safetensors", Self.fixture("vit-merged.safetensors")) < 1e-5)
  }

  @Test("adapter specs parse path:weight; a path without a number keeps weight 1")
  func adapterSpec() {
    #expect(LoRAWorkflow.AdapterSpec(parsing: "a/b:0.25") == .init(path: "a/b", weight: 0.25))
    #expect(LoRAWorkflow.AdapterSpec(parsing: "c:d") == .init(path: "c:d", weight: 1))
  }

  @Test("lora extract writes a PEFT folder whose config and factors read back")
  func loraExtract() throws {
    let dir = try TestPaths.scratchFolder("wf-extract") + "/adapter"
    let o = LoRAWorkflow.ExtractOptions(
      base: Self.fixture("llama-base"), tuned: Self.fixture("llama-merged.safetensors"), output: dir, rank: 4)
    let result = try LoRAWorkflow.extract(o)
    #expect(result.passed && result.written != nil, "\(result.lines.joined(separator: "\n"))")
    let config = try JSONParser.parse(
      String(decoding: try FileSystem.readAll(dir + "/adapter_config.json"), as: UTF8.self))
    #expect(config["r"]?.intValue == 4 && config["peft_type"]?.stringValue == "LORA")
    let adapter = try LoRAWorkflow.readAdapter(.init(path: dir))
    #expect(adapter.tensors.count == 28)
  }

  @Test("reparam writes the fused RepVGG, equal to timm's within 1e-6")
  func reparam() throws {
    let dir = try TestPaths.scratchFolder("wf-reparam")
    let result = try ReparamWorkflow.run(
      .init(input: Self.fixture("repvgg.safetensors"), output: dir + "/r.safetensors"))
    #expect(result.passed && result.written != nil)
    #expect(result.lines.contains { $0.contains("assumed") })
    #expect(try Self.relativeDistance(dir + "/r.safetensors", Self.fixture("repvgg-reparam.safetensors")) < 1e-6)
  }

  @Test("ema extract keeps timm's state_dict_ema byte for byte and refuses two candidates naming --source")
  func ema() throws {
    let dir = try TestPaths.scratchFolder("wf-ema")
    let result = try EMAWorkflow.extract(.init(input: Self.fixture("ema-timm.pth"), output: dir + "/e.safetensors"))
    #expect(result.passed && result.checks?.row("read back")?.outcome == .passed)
    #expect(result.extraction.dropped.map(\.path).contains("optimizer.state"))
    let error = #expect(throws: GraftError.self) {
      try EMAWorkflow.extract(.init(input: Self.fixture("ema-two.pth"), output: dir + "/f.safetensors"))
    }
    #expect(error?.option == "source")
    #expect(!FileSystem.exists(dir + "/f.safetensors"))
  }

  @Test("average --timm writes a .pth bit-identical in values to timm's; interpolation verifies")
  func average() throws {
    let dir = try TestPaths.scratchFolder("wf-avg")
    var o = AverageWorkflow.Options(inputs: (0..<3).map { Self.fixture("avg-\($0).pth") }, output: dir + "/a.pth")
    o.average.timmCompatible = true
    let result = try AverageWorkflow.average(o)
    #expect(result.passed && result.written != nil)
    #expect(try Self.relativeDistance(dir + "/a.pth", Self.fixture("avg-timm.pth")) == 0)
    let i = try AverageWorkflow.interpolate(
      .init(a: Self.fixture("avg-0.pth"), b: Self.fixture("avg-1.pth"), t: 0.3, output: dir + "/i.safetensors"))
    #expect(i.passed)
    #expect(try Self.relativeDistance(dir + "/i.safetensors", Self.fixture("interp-lerp.safetensors")) == 0)
  }
}
