import GraftCheck
import GraftCore
import GraftDemo
import GraftEngine
import GraftFormats
import GraftSurgery
import TestSupport
import Testing

/// The deployment passes' proofs pass on correct outputs and fail on tampered ones.
@Suite("Deployment checks")
struct DeployCheckTests {
  static func smallViT() -> TensorTable {
    var c = DemoModel.Configuration()
    c.width = 16
    c.image = 16
    c.mlpRatio = 2
    return DemoModel.vit(c)
  }

  @Test("LoRA: unmerged = merged per layer and end to end; a merged weight left unmerged fails both")
  func lora() throws {
    let base = Self.smallViT()
    let adapter = LoRADemo.sampleAdapter(for: base)
    let (merged, report) = try LoRA.merge(base, adapters: [adapter])
    let options = VisionTransformer.Options(heads: 2)
    let good = try LoRACheck.verify(base: base, merged: merged, report: report, adapters: [adapter], model: options)
    #expect(good.passed)
    #expect(good.rows.filter { $0.name.hasPrefix("layer ") }.count == 4)
    #expect(good.row("model output")?.outcome == .passed)
    var bad = merged
    try bad.replace("blocks.1.mlp.fc1.weight", with: try #require(base["blocks.1.mlp.fc1.weight"]))
    let check = try LoRACheck.verify(base: base, merged: bad, report: report, adapters: [adapter], model: options)
    #expect(check.row("layer blocks.1.mlp.fc1")?.outcome == .failed)
    #expect(check.row("layer blocks.0.mlp.fc1")?.outcome == .passed)
    #expect(check.row("model output")?.outcome == .failed)
  }

  @Test("LoRA on an LLM: per-layer rows prove the merge; the end-to-end row says by name that it did not run")
  func llmHook() throws {
    let base = try SafeTensors.read(path: TestPaths.fixture("deploy/llama-base/model.safetensors"))
    var adapter = LoRADemo.sampleAdapter(for: base)
    var tensors = TensorTable()
    for name in base.names where name.hasSuffix("q_proj.weight") {
      let shape = try #require(base[name]?.shape)
      let m = LoRA.keyPrefix + String(name.dropLast(".weight".count))
      try tensors.append(
        m + ".lora_A.weight", Tensor(float32: Array(repeating: 0.1, count: 2 * shape[1]), shape: [2, shape[1]]))
      try tensors.append(
        m + ".lora_B.weight", Tensor(float32: Array(repeating: 0.2, count: shape[0] * 2), shape: [shape[0], 2]))
    }
    adapter.tensors = tensors
    adapter.config = LoRA.AdapterConfig(r: 2, alpha: 2)
    let (merged, report) = try LoRA.merge(base, adapters: [adapter])
    let check = try LoRACheck.verify(base: base, merged: merged, report: report, adapters: [adapter])
    #expect(check.passed && report.modules.count == 2)
    // Without the base's config.json the decoder cannot be built: said by name, not skipped silently.
    #expect(check.row("model logits")?.outcome == .info)
    #expect(check.row("model logits")?.note?.contains("config.json") == true)
    // With it, the whole decoder runs unmerged against merged.
    let json = try JSONParser.parse(
      String(decoding: try FileSystem.readAll(TestPaths.fixture("deploy/llama-base/config.json")), as: UTF8.self))
    let configuration = try LLMConfiguration(json: try #require(json.objectValue))
    let full = try LoRACheck.verify(
      base: base, merged: merged, report: report, adapters: [adapter], llm: configuration)
    #expect(full.row("model logits")?.outcome == .passed, "\(full.lines.joined(separator: "\n"))")
    // A merged table that forgot one adapter (its q_proj left as in the base) fails the logits row.
    var forgot = merged
    let q = try #require(report.modules.last?.weightName)
    try forgot.replace(q, with: try #require(base[q]))
    let bad = try LoRACheck.verify(
      base: base, merged: forgot, report: report, adapters: [adapter], llm: configuration)
    #expect(bad.row("model logits")?.outcome == .failed)
  }

  @Test("re-parameterisation: every block passes; a tampered fused bias fails its block")
  func reparam() throws {
    let before = try SafeTensors.read(path: TestPaths.fixture("deploy/repvgg.safetensors"))
    let (after, report) = try Reparam.reparameterize(before)
    #expect(try ReparamCheck.verify(before: before, after: after, report: report).passed)
    var bad = after
    let bias = try DeployTensors.doubles(after, "stages.0.1.reparam_conv.bias").map { Float($0) + 0.01 }
    try bad.replace("stages.0.1.reparam_conv.bias", with: Tensor(float32: bias, shape: [bias.count]))
    let check = try ReparamCheck.verify(before: before, after: bad, report: report)
    #expect(check.row("repvgg-timm stages.0.1")?.outcome == .failed)
    #expect(check.failures.count == 1)
  }

  @Test("averaging: sampled elements match the rule bit for bit; one changed element is caught")
  func average() throws {
    let inputs = try (0..<3).map { try PyTorchCheckpoint.read(path: TestPaths.fixture("deploy/avg-\($0).pth")) }
    let (out, _) = try CheckpointAverage.average(inputs)
    #expect(try AverageCheck.verify(inputs: inputs, output: out, rule: .mean).passed)
    var bad = out
    var values = try DeployTensors.doubles(out, "out.bias").map(Float.init)
    values[0] = values[0].nextUp
    try bad.replace("out.bias", with: Tensor(float32: values, shape: [values.count]))
    #expect(try !AverageCheck.verify(inputs: inputs, output: bad, rule: .mean).passed)
  }

  @Test("LoRA extraction: an exact rank passes, a truncating rank is reported as an approximation")
  func extraction() throws {
    let base = Self.smallViT()
    let adapter = LoRADemo.sampleAdapter(for: base, rank: 4)
    let (tuned, _) = try LoRA.merge(base, adapters: [adapter])
    for (rank, outcome) in [(4, CheckReport.Outcome.passed), (2, .info)] {
      let (tensors, _, report) = try LoRA.extract(base: base, tuned: tuned, options: LoRA.ExtractOptions(rank: rank))
      let check = try LoRACheck.verifyExtraction(base: base, tuned: tuned, adapter: tensors, report: report)
      #expect(check.rows.allSatisfy { $0.outcome == outcome }, "rank \(rank)")
    }
  }
}
