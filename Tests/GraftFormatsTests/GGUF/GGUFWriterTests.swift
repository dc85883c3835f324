import GraftCore
import GraftFormats
import TestSupport
import Testing

@Suite("GGUF writer")
struct GGUFWriterTests {
  static let gguFPyFiles = [
    "model.gguf", "kv_types.gguf", "types/F32.gguf", "types/Q8_0.gguf", "types/Q4_K.gguf", "types/BF16.gguf",
    "types/IQ4_XS.gguf",
  ]

  @Test("a file gguf-py wrote is rewritten byte for byte", arguments: gguFPyFiles)
  func byteIdentity(_ fixture: String) throws {
    let dir = try TestPaths.scratchFolder("gguf-identity")
    let path = TestPaths.fixture("gguf/" + fixture)
    let table = try GGUF.read(path: path)
    let summary = try GGUF.write(table, to: dir + "/out.gguf")
    #expect(summary.notes.isEmpty, "\(summary.notes)")
    #expect(try FileSystem.readAll(dir + "/out.gguf") == FileSystem.readAll(path))
  }

  @Test("split files are rewritten byte for byte with the same split limit")
  func splitIdentity() throws {
    let dir = try TestPaths.scratchFolder("gguf-split-identity")
    let table = try GGUF.read(path: TestPaths.fixture("gguf/split-00001-of-00002.gguf"))
    var options = GGUF.TableWriteOptions()
    options.layout.splitMaxTensors = 2
    let summary = try GGUF.write(table, to: dir + "/split.gguf", options: options)
    #expect(summary.files == [dir + "/split-00001-of-00002.gguf", dir + "/split-00002-of-00002.gguf"])
    for k in 1...2 {
      let name = "split-0000\(k)-of-00002.gguf"
      #expect(
        try FileSystem.readAll(dir + "/" + name) == FileSystem.readAll(TestPaths.fixture("gguf/" + name)), "\(name)")
    }
  }

  /// A small llama-like table in PyTorch shapes (weights `[out, in]`), Float32.
  static func llamaTable(layers: Int = 2, width: Int = 256) -> TensorTable {
    var table = TensorTable()
    var seed: UInt64 = 7
    func tensor(_ shape: [Int]) -> Tensor {
      let n = shape.reduce(1, *)
      let values = (0..<n).map { _ -> Float in
        seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Float(Int(seed >> 40) % 2001 - 1000) / 1000
      }
      return Tensor(float32: values, shape: shape)
    }
    table.metadata["general.architecture"] = "llama"
    table.metadata["llama.block_count"] = .int(Int64(layers))
    table.metadata["llama.attention.head_count"] = .int(4)
    table.metadata[GGUF.typesKey] = ["llama.block_count": "UINT32", "llama.attention.head_count": "UINT32"]
    try? table.append("token_embd.weight", tensor([8, width]))
    for i in 0..<layers {
      try? table.append("blk.\(i).attn_norm.weight", tensor([width]))
      for p in ["attn_q", "attn_k", "attn_v", "attn_output"] {
        try? table.append("blk.\(i).\(p).weight", tensor([64, width]))
      }
      // ffn_down's rows are the intermediate size: 256, so that they are whole K-quant blocks.
      try? table.append("blk.\(i).ffn_gate.weight", tensor([256, width]))
      try? table.append("blk.\(i).ffn_up.weight", tensor([256, width]))
      try? table.append("blk.\(i).ffn_down.weight", tensor([width, 256]))
    }
    try? table.append("output_norm.weight", tensor([width]))
    try? table.append("output.weight", tensor([8, width]))
    return table
  }

  @Test(
    "quantized targets round-trip through gguf-py's layout and decode close to the input",
    arguments: [
      "F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_K", "Q6_K", "Q4_K_M",
    ])
  func quantizedRoundTrip(_ target: String) throws {
    let dir = try TestPaths.scratchFolder("gguf-quant")
    let table = Self.llamaTable()
    var options = GGUF.TableWriteOptions()
    options.target = try #require(GGUF.Target(name: target))
    let summary = try GGUF.write(table, to: dir + "/m.gguf", options: options)
    let file = try GGUFFile.open(path: dir + "/m.gguf")
    #expect(file.hasGGMLLayout)
    #expect(file.tensors.map(\.name) == table.names)
    #expect(file.tensorInfo(named: "blk.0.attn_norm.weight")?.type == .f32, "\(summary.notes)")
    let back = try GGUF.read(path: dir + "/m.gguf")
    // Tolerances for values in [-1, 1]: F16 and BF16 round to half an ulp (2⁻¹², 2⁻⁹); Q8_0 to half of d = 1/127
    // plus 127 times d's own f16 rounding. Q4_0 can be off by a whole step |max|/8 = 1/8 at the end opposite its
    // max (level 16 clamps to 15). The K-quants fit each group by weighted least squares, not minimax, so a value
    // can be off by up to one grid step: a 32-value range of at most 2 over 15 levels (Q4_K), over 63 (Q6_K).
    let tolerance: [String: Float] = [
      "F32": 0, "F16": 5e-4, "BF16": 4e-3, "Q8_0": 5e-3, "Q4_0": 0.126, "Q4_K": 0.134, "Q6_K": 0.033,
      "Q4_K_M": 0.134,
    ]
    for name in table.names {
      let a = try floatValues(try #require(table[name]))
      let b = try floatValues(try #require(back[name]).dequantized(to: .float32))
      let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
      #expect(worst <= tolerance[target] ?? 0, "\(target) \(name): max error \(worst)")
    }
    let fileType = file.value(forKey: "general.file_type")
    #expect(fileType == GGUF.Target(name: target)?.fileType.map(GGUFValue.uint32))
    let quantized = file.tensors.contains { $0.type.isQuantized }
    #expect((file.value(forKey: "general.quantization_version") != nil) == quantized)
  }

  @Test("the Q4_K_M mix gives Q6_K to the output and to attn_v/ffn_down of the layers llama.cpp picks")
  func q4KMix() throws {
    let table = Self.llamaTable(layers: 8)
    let facts = try GGUF.ModelFacts(metadata: table.metadata)
    let choices = try GGUF.chooseTypes(table.entries.map { ($0.name, $0.tensor) }, target: .q4_K_M, facts: facts)
    let types = Dictionary(uniqueKeysWithValues: choices.map { ($0.name, $0.type) })
    // use_more_bits(i, 8): i < 1, i >= 7, (i - 1) % 3 == 2 → layers 0, 3, 6, 7.
    for i in 0..<8 {
      let more = [0, 3, 6, 7].contains(i)
      #expect(types["blk.\(i).attn_v.weight"] == (more ? .q6_K : .q4_K), "layer \(i)")
      #expect(types["blk.\(i).ffn_down.weight"] == (more ? .q6_K : .q4_K), "layer \(i)")
      #expect(types["blk.\(i).attn_q.weight"] == .q4_K)
      #expect(types["blk.\(i).attn_norm.weight"] == .f32)
    }
    #expect(types["output.weight"] == .q6_K)
    #expect(types["token_embd.weight"] == .q4_K)
    // Without output.weight the embeddings are tied and take the output's type.
    var tied = table
    tied.removeAll { $0.name == "output.weight" }
    let tiedChoices = try GGUF.chooseTypes(tied.entries.map { ($0.name, $0.tensor) }, target: .q4_K_M, facts: facts)
    #expect(tiedChoices.first { $0.name == "token_embd.weight" }?.type == .q6_K)
    // Mixtral-like: 8 experts → attn_v and attn_k Q8_0, attn_output Q5_K.
    var moe = facts
    moe.expertCount = 8
    let moeChoices = try GGUF.chooseTypes(table.entries.map { ($0.name, $0.tensor) }, target: .q4_K_M, facts: moe)
    let moeTypes = Dictionary(uniqueKeysWithValues: moeChoices.map { ($0.name, $0.type) })
    #expect(moeTypes["blk.1.attn_v.weight"] == .q8_0)
    #expect(moeTypes["blk.1.attn_k.weight"] == .q8_0)
    #expect(moeTypes["blk.1.attn_output.weight"] == .q5_K)
  }

  @Test("rows that are not whole blocks fall back as convert_hf_to_gguf and llama-quantize do")
  func fallbacks() throws {
    var table = TensorTable()
    try table.append("a.weight", Tensor(float32: [Float](repeating: 1, count: 96), shape: [2, 48]))
    try table.append("b.weight", Tensor(float32: [Float](repeating: 1, count: 128), shape: [2, 64]))
    let q8 = try GGUF.chooseTypes(table.entries.map { ($0.name, $0.tensor) }, target: .type(.q8_0))
    #expect(q8.map(\.type) == [.f16, .q8_0])
    let q6 = try GGUF.chooseTypes(table.entries.map { ($0.name, $0.tensor) }, target: .type(.q6_K))
    #expect(q6.map(\.type) == [.f16, .q8_0])
    #expect(q6[1].reason?.contains("llama-quantize falls back") == true)
  }

  @Test("split-max-size splits as gguf-py does and the splits read back as one table")
  func splitBySize() throws {
    let dir = try TestPaths.scratchFolder("gguf-split-size")
    let table = Self.llamaTable()
    var options = GGUF.TableWriteOptions()
    options.layout.splitMaxBytes = 150_000
    let summary = try GGUF.write(table, to: dir + "/m.gguf", options: options)
    #expect(summary.files.count > 2)
    let back = try GGUF.read(path: try #require(summary.files.last))
    #expect(back.names == table.names)
    for name in table.names { #expect(try back[name]?.readAllBytes() == table[name]?.readAllBytes()) }
    let first = try GGUFFile.open(path: summary.files[0])
    #expect(first.value(forKey: "split.count") == .uint16(UInt16(summary.files.count)))
    #expect(first.value(forKey: "split.tensors.count") == .int32(Int32(table.count)))
    let second = try GGUFFile.open(path: summary.files[1])
    #expect(second.keyValues.map(\.key) == ["split.no", "split.count", "split.tensors.count"])
    // A split goes over the limit only when it holds a single tensor larger than the limit (ffn_*: 256 KiB).
    for file in summary.files {
      let tensors = try GGUFFile.open(path: file).tensors
      #expect(tensors.count == 1 || tensors.reduce(0) { $0 + $1.byteCount } <= 150_000, "\(file)")
    }
  }

  @Test("an alignment other than 32 is written as general.alignment and honoured")
  func alignment() throws {
    let dir = try TestPaths.scratchFolder("gguf-align")
    var options = GGUF.TableWriteOptions()
    options.layout.alignment = 64
    options.target = .type(.q8_0)
    try GGUF.write(Self.llamaTable(layers: 1), to: dir + "/m.gguf", options: options)
    let file = try GGUFFile.open(path: dir + "/m.gguf")
    #expect(file.alignment == 64)
    #expect(file.value(forKey: "general.alignment") == .uint32(64))
    #expect(file.tensors.allSatisfy { ($0.offset + file.dataOffset) % 64 == 0 })
    #expect(file.hasGGMLLayout)
  }

  @Test("bad plans are refused before anything is written")
  func refusals() throws {
    let dir = try TestPaths.scratchFolder("gguf-refuse")
    let long = String(repeating: "x", count: 64)
    let t = Tensor(float32: [1, 2, 3, 4], shape: [4])
    let cases: [([GGUF.TensorPlan], String)] = [
      ([GGUF.TensorPlan(name: long, tensor: t, type: .f32)], "GGML_MAX_NAME"),
      ([GGUF.TensorPlan(name: "a", tensor: t, type: .q8_0)], "whole number of Q8_0 blocks"),
      (
        [GGUF.TensorPlan(name: "a", tensor: t, type: .f32), GGUF.TensorPlan(name: "a", tensor: t, type: .f32)], "twice"
      ),
      ([GGUF.TensorPlan(name: "a", tensor: Tensor(float32: [1], shape: [1, 1, 1, 1, 1]), type: .f32)], "at most 4"),
    ]
    for (plans, text) in cases {
      do {
        try GGUF.write(keyValues: [], tensors: plans, to: dir + "/m.gguf")
        Issue.record("accepted: \(text)")
      } catch let error as GraftError {
        #expect(error.message.contains(text), "\(error.message)")
      }
      #expect(!FileSystem.exists(dir + "/m.gguf"))
    }
    var infinite = [Float](repeating: 0.5, count: 64)
    infinite[33] = .nan
    let plan = GGUF.TensorPlan(name: "w", tensor: Tensor(float32: infinite, shape: [2, 32]), type: .q8_0)
    do {
      try GGUF.write(keyValues: [], tensors: [plan], to: dir + "/m.gguf")
      Issue.record("NaN quantized")
    } catch let error as GraftError {
      #expect(error.message.contains("element 33"))
      #expect(error.tensor == "w")
    }
    var noArch = TensorTable()
    try noArch.append("w", t)
    #expect(throws: GraftError.self) { try GGUF.write(noArch, to: dir + "/m.gguf") }
    var u8 = TensorTable()
    u8.metadata["general.architecture"] = "x"
    try u8.append("w", Tensor(dtype: .uint8, shape: [2], copying: [1, 2]))
    #expect(throws: GraftError.self) { try GGUF.write(u8, to: dir + "/m.gguf") }
  }

  @Test("writers that cannot store blocks refuse a quantized tensor instead of dequantizing it")
  func otherWritersRefuse() throws {
    let dir = try TestPaths.scratchFolder("gguf-other")
    let table = try GGUF.read(path: TestPaths.fixture("gguf/types/Q4_K.gguf"))
    do {
      try SafeTensors.write(table, to: dir + "/m.safetensors")
      Issue.record("safetensors stored blocks")
    } catch let error as GraftError {
      #expect(error.code == .unsupportedDType)
      #expect(error.message.contains("Q4_K"))
    }
    #expect(throws: GraftError.self) { try GraftFile.write(table, to: dir + "/m.graft") }
    #expect(throws: GraftError.self) { try PyTorchCheckpoint.write(table, to: dir + "/m.pth") }
    #expect(throws: GraftError.self) { try NumPyFormat.writeNPZ(table, to: dir + "/m.npz") }
    // Explicit dequantization is the way through.
    var plain = TensorTable()
    try plain.append("t", try #require(table["t"]).dequantized(to: .float16))
    _ = try SafeTensors.write(plain, to: dir + "/m.safetensors")
    #expect(try SafeTensors.read(path: dir + "/m.safetensors")["t"]?.dtype == .float16)
    // Changing a quantized tensor's shape drops the blocks: they no longer describe it.
    var reshaped = try #require(table["t"])
    reshaped.shape = [1024]
    #expect(!reshaped.isQuantized)
  }
}
