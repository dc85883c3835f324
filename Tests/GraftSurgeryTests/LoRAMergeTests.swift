import GraftCore
import GraftFormats
import GraftSurgery
import TestSupport
import Testing

/// LoRA / DoRA merges against peft 0.21's `merge_and_unload()` on the committed fixtures (scripts/fixtures/deploy.py).
///
/// Tolerance: 1e-5 · max|reference| per tensor. peft adds `(B@A)·s` computed in float32 to W in float32 (two
/// roundings plus the float32 product); Graft accumulates in float64 and rounds once, so the two differ by a few
/// float32 ulps (measured ≤ 1.5e-7 relative), far inside the bound and far below any LoRA effect (the merged ViT
/// differs from the base by 0.58 at output scale 0.1).
@Suite("LoRA merge")
struct LoRAMergeTests {
  static func adapter(_ folder: String, weight: Double = 1) throws -> LoRA.Adapter {
    let dir = TestPaths.fixture("deploy/" + folder)
    let json = try JSONParser.parse(
      String(decoding: try FileSystem.readAll(dir + "/adapter_config.json"), as: UTF8.self))
    let tensors = try SafeTensors.read(path: dir + "/adapter_model.safetensors")
    return LoRA.Adapter(label: folder, config: try LoRA.AdapterConfig(json: json), tensors: tensors, weight: weight)
  }

  static func base(_ name: String = "vit-base.safetensors") throws -> TensorTable {
    try SafeTensors.read(path: TestPaths.fixture("deploy/" + name))
  }

  /// Every tensor of `merged` within 1e-5·max|ref| of the reference, with the same names and dtypes.
  static func expectMatches(_ merged: TensorTable, _ reference: String) throws {
    let ref = try SafeTensors.read(path: TestPaths.fixture("deploy/" + reference))
    #expect(Set(merged.names) == Set(ref.names))
    for name in ref.names {
      let a = try DeployTensors.doubles(merged, name)
      let b = try DeployTensors.doubles(ref, name)
      let scale = b.map(abs).max() ?? 0
      let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
      #expect(worst <= 1e-5 * scale, "\(name): \(worst) vs scale \(scale)")
      #expect(merged[name]?.dtype == ref[name]?.dtype)
    }
  }

  @Test("ViT LoRA with rank_pattern, alpha_pattern, a conv target and modules_to_save equals peft")
  func vit() throws {
    let (merged, report) = try LoRA.merge(try Self.base(), adapters: [try Self.adapter("vit-lora")])
    try Self.expectMatches(merged, "vit-merged.safetensors")
    let byModule = Dictionary(uniqueKeysWithValues: report.modules.map { ($0.module, $0) })
    #expect(byModule["blocks.0.mlp.fc1"]?.terms.first?.rank == 2)
    #expect(byModule["blocks.0.attn.qkv"]?.terms.first?.scaling == 4)
    #expect(byModule["blocks.1.attn.qkv"]?.terms.first?.scaling == 2)
    #expect(byModule["patch_embed.proj"]?.inFeatures == 48)
    #expect(Set(report.replaced.map(\.name)) == ["head.weight", "head.bias"])
    #expect(merged.lineage.last?.operation == LoRA.mergeOperation)
  }

  @Test("two adapters weighted 0.7 / 0.3 equal peft's add_weighted_adapter(cat) merge")
  func weighted() throws {
    let adapters = [try Self.adapter("vit-lora-a", weight: 0.7), try Self.adapter("vit-lora-b", weight: 0.3)]
    let (merged, report) = try LoRA.merge(try Self.base(), adapters: adapters)
    try Self.expectMatches(merged, "vit-merged-ab.safetensors")
    #expect(report.modules.first { $0.module == "blocks.0.attn.qkv" }?.terms.count == 2)
  }

  @Test("DoRA with perturbed magnitudes equals peft")
  func dora() throws {
    let (merged, report) = try LoRA.merge(try Self.base(), adapters: [try Self.adapter("vit-dora")])
    try Self.expectMatches(merged, "vit-merged-dora.safetensors")
    #expect(report.modules.allSatisfy { $0.magnitude != nil })
  }

  @Test("Llama LoRA (rsLoRA, rank and alpha patterns, all seven projections) equals peft")
  func llama() throws {
    let (merged, report) = try LoRA.merge(
      try Self.base("llama-base/model.safetensors"), adapters: [try Self.adapter("llama-lora")])
    try Self.expectMatches(merged, "llama-merged.safetensors")
    #expect(report.modules.count == 14)
    let down = try #require(report.modules.first { $0.module.hasSuffix("down_proj") }?.terms.first)
    #expect(down.rank == 2 && abs(down.scaling - 8 / 2.0.squareRoot()) < 1e-12)
  }

  @Test("an adapter tensor with no role is an error listing it")
  func unusedTensor() throws {
    var a = try Self.adapter("vit-lora")
    try a.tensors.append("base_model.model.blocks.0.attn.stray", Tensor(float32: [1], shape: [1]))
    let error = #expect(throws: GraftError.self) { try LoRA.merge(try Self.base(), adapters: [a]) }
    #expect(error?.message.contains("attn.stray") == true)
  }

  @Test("a configuration whose r disagrees with lora_A is refused (the scaling would be wrong)")
  func rankMismatch() throws {
    var a = try Self.adapter("vit-lora")
    a.config.rankPattern = []
    let error = #expect(throws: GraftError.self) { try LoRA.merge(try Self.base(), adapters: [a]) }
    #expect(error?.code == .invalidModel && error?.message.contains("r = 4") == true)
    #expect(error?.tensor?.contains("fc1") == true)
  }

  @Test("a module outside target_modules is refused; non-LORA types and embedding LoRA are refused by name")
  func refusals() throws {
    var a = try Self.adapter("vit-lora")
    a.config.targetModules = .names(["qkv"])
    #expect(throws: GraftError.self) { try LoRA.merge(try Self.base(), adapters: [a]) }
    a.config.targetModules = .pattern(String(repeating: "(a|a)*", count: 1000))
    let long = #expect(throws: GraftError.self) { try LoRA.merge(try Self.base(), adapters: [a]) }
    #expect(long?.code == .limitExceeded)
    #expect(throws: GraftError.self) { try LoRA.AdapterConfig(json: ["peft_type": "IA3", "r": 4]) }
    #expect(throws: GraftError.self) { try LoRA.AdapterConfig(json: ["r": 4, "lora_bias": true]) }
    var e = LoRA.Adapter(label: "e", config: LoRA.AdapterConfig(r: 1, alpha: 1), tensors: TensorTable())
    try e.tensors.append("base_model.model.emb.lora_embedding_A", Tensor(float32: [1, 2], shape: [1, 2]))
    let error = #expect(throws: GraftError.self) { try LoRA.merge(try Self.base(), adapters: [e]) }
    #expect(error?.code == .unsupported && error?.message.contains("embeddings") == true)
  }

  @Test("fan_in_fan_out (Conv1D [in, out]) and a BF16 base: the delta is transposed, one rounding to BF16")
  func fanInFanOutBF16() throws {
    let (inF, outF, r) = (3, 2, 1)
    let w: [Double] = [0.5, -1, 2, 0.25, -0.75, 1.5]  // [in, out]
    var base = TensorTable()
    try base.append("c.weight", try DeployTensors.stored(w, dtype: .bfloat16, shape: [inF, outF]))
    var config = LoRA.AdapterConfig(r: r, alpha: 2)
    config.fanInFanOut = true
    var t = TensorTable()
    try t.append("base_model.model.c.lora_A.weight", Tensor(float32: [0.1, 0.2, 0.3], shape: [r, inF]))
    try t.append("base_model.model.c.lora_B.weight", Tensor(float32: [1, -2], shape: [outF, r]))
    let (merged, _) = try LoRA.merge(base, adapters: [LoRA.Adapter(label: "f", config: config, tensors: t)])
    let out = try #require(merged["c.weight"])
    #expect(out.dtype == .bfloat16 && out.shape == [inF, outF])
    let a: [Double] = [0.1, 0.2, 0.3].map { Double(Float($0)) }
    var exact = [Double](repeating: 0, count: 6)
    for i in 0..<inF {
      for o in 0..<outF { exact[i * outF + o] = w[i * outF + o] + 2 * [1.0, -2][o] * a[i] }
    }
    let want = try DeployTensors.doubles(try DeployTensors.stored(exact, dtype: .bfloat16, shape: [6]), name: "w")
    #expect(try DeployTensors.doubles(out, name: "c.weight") == want)
  }

  @Test("the merged tensor is produced lazily and any byte range reads the same bytes as the whole")
  func lazyRanges() throws {
    let (merged, _) = try LoRA.merge(try Self.base(), adapters: [try Self.adapter("vit-lora")])
    let t = try #require(merged["blocks.0.mlp.fc1.weight"])
    #expect(t.bytes.contiguousBytes == nil)
    let whole = try t.readAllBytes()
    let part = UnsafeMutableRawBufferPointer.allocate(byteCount: 101, alignment: 1)
    defer { part.deallocate() }
    try t.bytes.copyBytes(in: 333..<434, into: part)
    #expect(Array(part) == Array(whole[333..<434]))
  }
}
