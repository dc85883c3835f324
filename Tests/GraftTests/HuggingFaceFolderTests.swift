import Glibc
import Graft
import TestSupport
import Testing

@Suite("Hugging Face model folders: open, inspect, write")
struct HuggingFaceFolderTests {
  func fixture(_ name: String) -> String { TestPaths.fixture("llm/\(name)") }

  func copy(_ source: String, _ destination: String) throws {
    try FileSystem.writeAll(FileSystem.readAll(source), to: destination)
  }

  /// Every tensor's name, dtype, shape and bytes.
  func contents(_ table: TensorTable) throws -> [String: (DType, [Int], [UInt8])] {
    var out: [String: (DType, [Int], [UInt8])] = [:]
    for e in table.entries { out[e.name] = (e.tensor.dtype, e.tensor.shape, try e.tensor.readAllBytes()) }
    return out
  }

  func expectSameTensors(_ a: TensorTable, _ b: TensorTable, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let x = try contents(a)
    let y = try contents(b)
    #expect(Set(x.keys) == Set(y.keys), sourceLocation: sourceLocation)
    for (k, v) in x {
      let w = try #require(y[k], sourceLocation: sourceLocation)
      #expect(v.0 == w.0 && v.1 == w.1 && v.2 == w.2, "\(k)", sourceLocation: sourceLocation)
    }
  }

  @Test("a folder opens with the weights transformers loads; other weight-like files are listed, not read")
  func open() throws {
    let single = try HuggingFaceFolder.open(fixture("llama"))
    #expect(single.weightFiles == ["model.safetensors"])
    #expect(single.otherFiles == ["io.safetensors"])
    #expect(single.table.count == 35 && single.generationConfig != nil)
    #expect(single.config["model_type"] == "llama")
    let sharded = try HuggingFaceFolder.open(fixture("mistral"))
    #expect(sharded.weightFiles.first == "model.safetensors.index.json" && sharded.weightFiles.count == 4)
    #expect(try sharded.llmConfiguration().slidingWindows == [5, 5])
    let detection = try Checkpoint.detect(path: fixture("llama"))
    #expect(detection.format == .safetensors && detection.detail == "Hugging Face folder, model.safetensors")
    #expect(try Checkpoint.read(path: fixture("mistral")).count == sharded.table.count)
  }

  @Test("pytorch_model.bin, single and sharded with pytorch_model.bin.index.json, opens as one checkpoint")
  func pytorchWeights() throws {
    let source = try HuggingFaceFolder.open(fixture("qwen2"))
    let single = try TestPaths.scratchFolder("hf-bin")
    try copy(fixture("qwen2") + "/config.json", single + "/config.json")
    try PyTorchCheckpoint.write(source.table, to: single + "/pytorch_model.bin")
    let a = try HuggingFaceFolder.open(single)
    #expect(a.weightFiles == ["pytorch_model.bin"])
    try expectSameTensors(a.table, source.table)

    let sharded = try TestPaths.scratchFolder("hf-bin-sharded")
    try copy(fixture("qwen2") + "/config.json", sharded + "/config.json")
    var first = TensorTable()
    var second = TensorTable()
    var map: [(key: String, value: JSONValue)] = []
    for (i, e) in source.table.entries.enumerated() {
      let shard = i < 10 ? "pytorch_model-00001-of-00002.bin" : "pytorch_model-00002-of-00002.bin"
      if i < 10 { try first.append(e.name, e.tensor) } else { try second.append(e.name, e.tensor) }
      map.append((e.name, .string(shard)))
    }
    try PyTorchCheckpoint.write(first, to: sharded + "/pytorch_model-00001-of-00002.bin")
    try PyTorchCheckpoint.write(second, to: sharded + "/pytorch_model-00002-of-00002.bin")
    let index: JSONValue = ["metadata": ["total_size": 1], "weight_map": .object(JSONObject(map))]
    try FileSystem.writeAll(index.serializedBytes(), to: sharded + "/pytorch_model.bin.index.json")
    let b = try HuggingFaceFolder.open(sharded)
    #expect(b.weightFiles.count == 3)
    try expectSameTensors(b.table, source.table)
    let model = try CausalLM(configuration: b.llmConfiguration(), weights: b.table)
    #expect(model.configuration.family == .qwen2)

    FileSystem.remove(sharded + "/pytorch_model-00002-of-00002.bin")
    do {
      _ = try HuggingFaceFolder.open(sharded)
      Issue.record("opened a folder whose index names a missing shard")
    } catch let error as GraftError {
      #expect(error.code == .indexMismatch && error.file?.hasSuffix("pytorch_model-00002-of-00002.bin") == true)
      #expect(error.message.contains("pytorch_model.bin.index.json"))
    }
  }

  @Test("not a model folder: no config.json, or config.json without the weights transformers loads")
  func refusals() throws {
    let empty = try TestPaths.scratchFolder("hf-empty")
    try FileSystem.writeAll(Array("x".utf8), to: empty + "/model.safetensors")
    #expect(!HuggingFaceFolder.isModelFolder(empty))
    #expect(throws: GraftError.self) { try HuggingFaceFolder.open(empty) }
    let noWeights = try TestPaths.scratchFolder("hf-noweights")
    try FileSystem.writeAll(Array("{}".utf8), to: noWeights + "/config.json")
    try FileSystem.writeAll(Array("x".utf8), to: noWeights + "/consolidated.safetensors")
    do {
      _ = try HuggingFaceFolder.open(noWeights)
      Issue.record("opened a folder without model weights")
    } catch let error as GraftError {
      #expect(error.message.contains("model.safetensors") && error.message.contains("consolidated.safetensors"))
    }
    let badConfig = try TestPaths.scratchFolder("hf-badconfig")
    try FileSystem.writeAll(Array(#"{"model_type": "gpt_neox"}"#.utf8), to: badConfig + "/config.json")
    _ = try SafeTensors.write(try HuggingFaceFolder.open(fixture("llama")).table, to: badConfig + "/model.safetensors")
    let folder = try HuggingFaceFolder.open(badConfig)
    do {
      _ = try folder.llmConfiguration()
      Issue.record("parsed gpt_neox")
    } catch {
      #expect(error.file == badConfig + "/config.json" && error.message.contains("gpt_neox"))
    }
    let summary = HuggingFaceSummary(folder)
    #expect(summary.configuration == nil && summary.configurationProblem?.contains("gpt_neox") == true)
  }

  @Test("inspect: architecture, hyperparameters with sources, parameters per component")
  func summary() throws {
    let folder = try HuggingFaceFolder.open(fixture("qwen2_moe"))
    let s = HuggingFaceSummary(folder)
    #expect(s.modelType == "qwen2_moe" && s.architectures == ["Qwen2MoeForCausalLM"])
    let byName = Dictionary(uniqueKeysWithValues: s.counts.map { ($0.component, $0.parameters) })
    // vocab 96 × hidden 32; 4 experts × 3 × 24 × 32 in layer 0; the shared expert 3 × 40 × 32 + its gate 32.
    #expect(byName[.embeddings] == 96 * 32 && byName[.head] == 96 * 32)
    #expect(byName[.experts] == 4 * 3 * 24 * 32)
    #expect(byName[.sharedExpert] == 3 * 40 * 32 + 32)
    #expect(byName[.router] == 4 * 32)
    #expect(byName[.mlp] == 3 * 48 * 32)
    #expect(byName[.norms] == 5 * 32)
    #expect(s.counts.reduce(0) { $0 + $1.parameters } == s.totalParameters)
    #expect(s.lines.contains { $0.contains("hidden_size") && $0.contains("config.json hidden_size") })
    #expect(s.lines.contains { $0.hasPrefix("  shared expert") })
    let inspection = try Inspection.inspect(path: fixture("qwen2_moe"))
    #expect(inspection.huggingFace?.totalParameters == s.totalParameters)
    #expect(inspection.render().contains("parameters by component:"))
    #expect(inspection.json["hugging_face"]?["model_type"] == "qwen2_moe")
  }

  @Test("write: shards + index, config.json, generation config and tokenizer files; the result runs the same")
  func writeFolder() throws {
    let source = try TestPaths.scratchFolder("hf-source")
    for name in ["config.json", "generation_config.json", "model.safetensors"] {
      try copy(fixture("llama") + "/" + name, source + "/" + name)
    }
    try FileSystem.writeAll(Array(#"{"version": "1.0"}"#.utf8), to: source + "/tokenizer.json")
    try FileSystem.writeAll(Array("merges".utf8), to: source + "/merges.txt")
    try FileSystem.writeAll(Array("# card".utf8), to: source + "/README.md")
    let input = try HuggingFaceFolder.open(source)
    #expect(input.tokenizerFiles == ["merges.txt", "tokenizer.json"] && input.otherFiles == ["README.md"])
    let out = try TestPaths.scratchFolder("hf-out") + "/model"
    var options = HuggingFaceFolder.WriteOptions()
    options.shardSize = 40_000
    options.copyingFilesFrom = source
    let summary = try HuggingFaceFolder.write(input.table, config: input.config, to: out, options: options)
    #expect(summary.notes.contains { $0.contains("README.md") })
    let names = try FileSystem.contents(of: out).sorted()
    #expect(names.contains("model.safetensors.index.json") && names.contains("model-00001-of-00003.safetensors"))
    #expect(names.contains("tokenizer.json") && names.contains("merges.txt") && !names.contains("README.md"))
    let back = try HuggingFaceFolder.open(out)
    try expectSameTensors(back.table, input.table)
    #expect(back.config == JSONObject(sorting: Dictionary(uniqueKeysWithValues: input.config.members)))
    #expect(back.generationConfig == input.generationConfig)
    let text = String(decoding: try FileSystem.readAll(out + "/config.json"), as: UTF8.self)
    #expect(text.hasPrefix("{\n  \"architectures\": [\n    \"LlamaForCausalLM\"\n  ],") && text.hasSuffix("}\n"))
    let tokens: [[Int32]] = [[1, 5, 9, 77]]
    let a = try CausalLM(configuration: input.llmConfiguration(), weights: input.table).forward(tokens: tokens)
    let b = try CausalLM(configuration: back.llmConfiguration(), weights: back.table).forward(tokens: tokens)
    #expect(a.logits == b.logits)
  }

  @Test("write refuses a non-empty folder; a failed write removes everything it wrote")
  func writeFailures() throws {
    let input = try HuggingFaceFolder.open(fixture("llama"))
    let busy = try TestPaths.scratchFolder("hf-busy")
    try FileSystem.writeAll(Array("keep".utf8), to: busy + "/notes.txt")
    #expect(throws: GraftError.self) { try HuggingFaceFolder.write(input.table, config: input.config, to: busy) }
    #expect(try FileSystem.contents(of: busy) == ["notes.txt"])

    let parent = try TestPaths.scratchFolder("hf-fail")
    let out = parent + "/model"
    // The tokenizer files are copied last; a dangling symlink among them makes that copy fail after the shards,
    // the index and config.json are written.
    let source = try TestPaths.scratchFolder("hf-fail-source")
    #expect(symlink(source + "/missing", source + "/tokenizer.model") == 0)
    var options = HuggingFaceFolder.WriteOptions()
    options.shardSize = 40_000
    options.copyingFilesFrom = source
    do {
      try HuggingFaceFolder.write(input.table, config: input.config, to: out, options: options)
      Issue.record("copied a dangling symlink")
    } catch let error as GraftError {
      #expect(error.file == source + "/tokenizer.model")
    }
    #expect(!FileSystem.exists(out))
    #expect(try FileSystem.contents(of: parent).isEmpty)
  }
}
