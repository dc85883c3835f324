import Graft
import GraftDemo
import TestSupport
import Testing

@Suite("LLM workflows: run, check and MoE upcycling of model folders")
struct LLMWorkflowTests {
  /// A tiny dense Llama folder with a tokenizer file, sharded when `shardSize` is small.
  static func denseFolder(_ label: String, shardSize: Int = 5_000_000_000) throws -> String {
    let folder = try TestPaths.scratchFolder(label) + "/dense"
    let (table, config) = try LLMDemo.model()
    var w = HuggingFaceFolder.WriteOptions()
    w.shardSize = shardSize
    w.generationConfig = JSONObject([("bos_token_id", .integer(1)), ("max_new_tokens", .integer(4))])
    try HuggingFaceFolder.write(table, config: config, to: folder, options: w)
    try FileSystem.writeAll(Array("{\"model\": {}}".utf8), to: folder + "/tokenizer.json")
    return folder
  }

  static func ids(_ values: [[Int64]], to path: String) throws {
    var bytes: [UInt8] = []
    for v in values.joined() { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    _ = try NumPyFormat.writeNPY(
      Tensor(dtype: .int64, shape: [values.count, values[0].count], copying: bytes), to: path)
  }

  static func logits(_ folder: String, _ tokens: [[Int32]]) throws -> FloatTensor {
    let f = try HuggingFaceFolder.open(folder)
    return try CausalLM(configuration: f.llmConfiguration(), weights: f.table).forward(tokens: tokens).logits
  }

  @Test(
    "upcycle into Mixtral: written only after the checks, same logits, tokenizer and generation config copied, deterministic"
  )
  func upcycle() throws {
    let dense = try Self.denseFolder("llm-upcycle")
    let base = String(dense.dropLast("/dense".count))
    var o = LLMMoEWorkflow.Options(input: dense, output: base + "/moe")
    o.upcycle.experts = 4
    o.manifestPath = base + "/manifest.json"
    let result = try LLMMoEWorkflow.upcycle(o)
    #expect(result.passed && result.written != nil && result.engine?.passed == true)
    let names = try FileSystem.contents(of: base + "/moe").sorted()
    #expect(names == ["config.json", "generation_config.json", "model.safetensors", "tokenizer.json"])
    let moe = try HuggingFaceFolder.open(base + "/moe")
    #expect(try moe.llmConfiguration().mixtureOfExperts?.expertCount == 4)
    let tokens: [[Int32]] = [[1, 5, 9, 13, 2, 60]]
    let a = try Self.logits(dense, tokens)
    let b = try Self.logits(base + "/moe", tokens)
    #expect(TensorComparison(before: a, after: b).relative < 1e-6)
    o.output = base + "/moe2"
    o.manifestPath = nil
    _ = try LLMMoEWorkflow.upcycle(o)
    #expect(
      try FileSystem.readAll(base + "/moe/model.safetensors") == FileSystem.readAll(base + "/moe2/model.safetensors"))
    #expect(try FileSystem.readAll(o.manifestPath ?? base + "/manifest.json").count > 100)
  }

  @Test("a calibration router: rows are unit hidden-state means, the copies stay exact")
  func calibration() throws {
    let dense = try Self.denseFolder("llm-calibration")
    let base = String(dense.dropLast("/dense".count))
    try Self.ids([[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]], to: base + "/ids.npy")
    var o = LLMMoEWorkflow.Options(input: dense, output: base + "/moe")
    o.upcycle.experts = 3
    o.upcycle.topK = 1
    o.calibration = base + "/ids.npy"
    let result = try LLMMoEWorkflow.upcycle(o)
    #expect(result.passed && result.summary.contains { $0.contains("hidden-state means") })
    let router = try #require(
      try HuggingFaceFolder.open(base + "/moe").table["model.layers.1.block_sparse_moe.gate.weight"])
    let rows = try router.readAllBytes().withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    for e in 0..<3 {
      let n = rows[(e * 32)..<((e + 1) * 32)].reduce(0) { $0 + Double($1) * Double($1) }
      #expect(abs(n - 1) < 1e-5)
    }
    o.upcycle.experts = 4
    o.output = base + "/moe4"
    #expect(throws: GraftError.self) { try LLMMoEWorkflow.upcycle(o) }
    #expect(!FileSystem.exists(base + "/moe4"))
  }

  @Test(
    "bad input: unknown model_type, missing shard, already MoE, top-k above experts — clear errors, nothing written")
  func badInput() throws {
    let dense = try Self.denseFolder("llm-bad", shardSize: 20_000)
    let base = String(dense.dropLast("/dense".count))
    func failure(_ input: String, _ edit: (inout LLMMoEWorkflow.Options) -> Void = { _ in }) -> GraftError? {
      var o = LLMMoEWorkflow.Options(input: input, output: base + "/out")
      edit(&o)
      defer { #expect(!FileSystem.exists(base + "/out")) }
      do { _ = try LLMMoEWorkflow.upcycle(o) } catch let e as GraftError { return e } catch { return nil }
      return nil
    }
    let k = failure(dense) { $0.upcycle.topK = 9 }
    #expect(k?.option == "topK")
    let shards = try FileSystem.contents(of: dense).filter { $0.hasSuffix(".safetensors") }.sorted()
    #expect(shards.count > 1)
    try FileSystem.writeAll(Array("{}".utf8), to: base + "/unused")
    var config = try FileSystem.readAll(dense + "/config.json")
    let text = String(decoding: config, as: UTF8.self).replacingOccurrences("\"llama\"", with: "\"falcon\"")
    config = Array(text.utf8)
    let unknown = base + "/unknown"
    try FileSystem.makeDirectory(unknown)
    for name in try FileSystem.contents(of: dense) {
      try FileSystem.writeAll(
        name == "config.json" ? config : FileSystem.readAll(dense + "/" + name), to: unknown + "/" + name)
    }
    let type = failure(unknown)
    #expect(type?.file?.hasSuffix("config.json") == true && type?.message.contains("falcon") == true)
    FileSystem.remove(dense + "/" + shards[1])
    let shard = failure(dense)
    #expect(shard?.file?.contains(shards[1]) == true || shard?.message.contains(shards[1]) == true)
    let fresh = try Self.denseFolder("llm-bad-moe")
    let moe = String(fresh.dropLast("/dense".count)) + "/moe"
    _ = try LLMMoEWorkflow.upcycle(LLMMoEWorkflow.Options(input: fresh, output: moe))
    let again = failure(moe)
    #expect(
      again?.message.contains("already a mixture of experts") == true && again?.file?.hasSuffix("config.json") == true)
  }

  @Test("run: logits [B, T, V] written as .npy, greedy generation equals the engine's, top tokens listed")
  func run() throws {
    let dense = try Self.denseFolder("llm-run")
    var o = LLMRunWorkflow.Options(model: dense)
    o.tokens = [[1, 2, 3], [4, 5, 6]]
    o.generate = 5
    o.outputPath = String(dense.dropLast("/dense".count)) + "/logits.npy"
    let result = try LLMRunWorkflow.run(o)
    #expect(result.logits.shape == [2, 3, 64] && result.generated.map(\.count) == [5, 5])
    let f = try HuggingFaceFolder.open(dense)
    let model = try CausalLM(configuration: f.llmConfiguration(), weights: f.table)
    #expect(result.generated == (try model.generate(prompts: o.tokens, steps: 5)))
    #expect(try FloatTensorFile.read(try #require(o.outputPath)) == result.logits)
    #expect(result.top[1][2].count == 3 && result.lines.contains { $0.contains("generated [1]") })
    o.tokens = [[1, 2], [3]]
    #expect(throws: GraftError.self) { try LLMRunWorkflow.run(o) }
  }

  @Test("check decides LLM from the inputs: two folders give the LLM report; a folder against a file is refused")
  func check() throws {
    let dense = try Self.denseFolder("llm-check")
    let base = String(dense.dropLast("/dense".count))
    var o = LLMMoEWorkflow.Options(input: dense, output: base + "/moe")
    o.verify = false
    _ = try LLMMoEWorkflow.upcycle(o)
    let report = try CheckWorkflow.compare(before: dense, after: base + "/moe", tokensPerSequence: 5)
    #expect(report.kind == "llm" && report.passed && report.row("logits")?.values["shape"] != nil)
    #expect(report.header.contains { $0.contains("mixtral") })
    #expect(throws: GraftError.self) {
      try CheckWorkflow.compare(before: dense, after: base + "/moe/model.safetensors")
    }
  }
}

extension String {
  fileprivate func replacingOccurrences(_ target: String, with replacement: String) -> String {
    var out = ""
    var rest = Substring(self)
    while let r = rest.firstRange(of: target) {
      out += rest[..<r.lowerBound] + replacement
      rest = rest[r.upperBound...]
    }
    return out + rest
  }
}
