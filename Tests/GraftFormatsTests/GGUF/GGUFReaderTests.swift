import GraftCore
import GraftFormats
import TestSupport
import Testing

@Suite("GGUF reader")
struct GGUFReaderTests {
  @Test("every value type, arrays and nested arrays read as gguf-py wrote them")
  func keyValueTypes() throws {
    let file = try GGUFFile.open(path: TestPaths.fixture("gguf/kv_types.gguf"))
    let manifest = try readJSON(TestPaths.fixture("gguf/kv_types.json"))
    let entries = try #require(manifest.arrayValue)
    #expect(file.keyValues.map(\.key) == entries.compactMap { $0["key"]?.stringValue })
    for entry in entries {
      let key = try #require(entry["key"]?.stringValue)
      let value = try #require(file.value(forKey: key), "\(key)")
      #expect(value.typeDescriptor == entry["type"], "\(key)")
      #expect(value.json == entry["value"], "\(key): \(value.json) vs \(String(describing: entry["value"]))")
      // The JSON and its descriptor rebuild the same typed value (what a table round trip relies on).
      let rebuilt = try GGUFValue(json: value.json, descriptor: value.typeDescriptor, key: key)
      #expect(rebuilt == value, "\(key)")
    }
    #expect(file.value(forKey: "test.u64") == .uint64(1 << 63 + 5))
    #expect(file.value(forKey: "test.f32") == .float32(3.25))
    let nested = try #require(file.value(forKey: "test.nested_mixed")?.arrayValue?.arrays)
    #expect(nested.map(\.elementType) == [.int32, .string])
    #expect(file.version == 3)
    #expect(file.alignment == 32)
    #expect(file.dataOffset % 32 == 0)
    #expect(file.hasGGMLLayout)
  }

  @Test("a v2 file reads like v3")
  func versionTwo() throws {
    let v2 = try GGUFFile.open(path: TestPaths.fixture("gguf/v2.gguf"))
    let v3 = try GGUFFile.open(path: TestPaths.fixture("gguf/types/F32.gguf"))
    #expect(v2.version == 2)
    #expect(v2.tensors == v3.tensors)
    #expect(try storedBytes(v2, "t") == storedBytes(v3, "t"))
  }

  @Test("the table shows PyTorch shapes, zero-copy plain tensors and typed metadata")
  func table() throws {
    let table = try GGUF.read(path: TestPaths.fixture("gguf/model.gguf"))
    #expect(
      table.names == [
        "token_embd.weight", "blk.0.attn_norm.weight", "blk.0.attn_q.weight", "blk.0.attn_k.weight",
        "blk.0.attn_v.weight",
      ])
    let q = try #require(table["blk.0.attn_q.weight"])
    #expect(q.dtype == .float16)
    #expect(q.shape == [4, 256])
    #expect(q.bytes is MappedBytes)
    #expect(table["blk.0.attn_k.weight"]?.dtype == .bfloat16)
    let v = try #require(table["blk.0.attn_v.weight"])
    #expect(v.quantization?.format.name == "Q8_0")
    #expect(v.dtype == .float32)
    #expect(v.byteCount == 4 * 1024)
    #expect(table.metadata["llama.block_count"] == .int(1))
    #expect(table.metadata[GGUF.typesKey]?["llama.block_count"] == .string("UINT32"))
    #expect(table.metadata[GGUF.typesKey]?["tokenizer.ggml.tokens"] == .string("ARRAY[STRING]"))
    #expect(table.metadata["tokenizer.ggml.tokens"]?.arrayValue?.count == 64)
  }

  @Test("split files read as one checkpoint from any of the splits")
  func splits() throws {
    for k in [1, 2] {
      let table = try GGUF.read(path: TestPaths.fixture("gguf/split-0000\(k)-of-00002.gguf"))
      #expect(table.names == ["token_embd.weight", "blk.0.attn_norm.weight", "output.weight"])
      #expect(table.metadata["split.count"] == nil)
      #expect(table.metadata["llama.block_count"] == .int(1))
      let embedding = try floatValues(try #require(table["token_embd.weight"]))
      #expect(embedding[7] == Float(7) / 7)
      #expect(table["output.weight"]?.dtype == .float16)
      #expect(table["output.weight"]?.shape == [2, 32])
    }
    let detection = try FormatDetector.detect(path: TestPaths.fixture("gguf/split-00001-of-00002.gguf"))
    #expect(detection.format == .gguf)
    #expect(detection.detail == "GGUF v3")
  }

  @Test("a split whose sibling is missing or renamed is refused naming the file")
  func brokenSplits() throws {
    let dir = try TestPaths.scratchFolder("gguf-split")
    let first = try FileSystem.readAll(TestPaths.fixture("gguf/split-00001-of-00002.gguf"))
    try FileSystem.writeAll(first, to: dir + "/m-00001-of-00002.gguf")
    #expect(throws: GraftError.self) { _ = try GGUF.read(path: dir + "/m-00001-of-00002.gguf") }
    try FileSystem.writeAll(first, to: dir + "/renamed.gguf")
    do {
      _ = try GGUF.read(path: dir + "/renamed.gguf")
      Issue.record("a split without a split name was read")
    } catch {
      #expect(error.code == .indexMismatch)
      #expect(error.message.contains("-0000K-of-0000N"))
    }
    // Split 1 twice: split.no disagrees with the name.
    try FileSystem.writeAll(first, to: dir + "/m-00002-of-00002.gguf")
    do {
      _ = try GGUF.read(path: dir + "/m-00001-of-00002.gguf")
      Issue.record("a duplicated split was read")
    } catch {
      #expect(error.code == .indexMismatch)
      #expect(error.file == dir + "/m-00002-of-00002.gguf")
    }
  }

  @Test("split names parse and print as gguf-split writes them")
  func splitNames() throws {
    let name = try #require(GGUF.SplitName(path: "/a/model-Q4_K_M-00003-of-00012.gguf"))
    #expect(name.prefix == "/a/model-Q4_K_M")
    #expect(name.index == 2)
    #expect(name.count == 12)
    #expect(name.path(index: 11) == "/a/model-Q4_K_M-00012-of-00012.gguf")
    #expect(GGUF.SplitName(path: "model-00000-of-00002.gguf") == nil)
    #expect(GGUF.SplitName(path: "model-00003-of-00002.gguf") == nil)
    #expect(GGUF.SplitName(path: "model.gguf") == nil)
  }
}
