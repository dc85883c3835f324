import GraftCore
import GraftDemo
import GraftSurgery
import Testing

@Suite("LLM dense → MoE upcycling (tables only)")
struct LLMUpcycleTests {
  static func dense(_ family: String = "llama", dtype: DType = .float32) throws -> (TensorTable, JSONObject) {
    var c = LLMDemo.Configuration()
    c.family = family
    c.dtype = dtype
    return try LLMDemo.model(c)
  }

  static func bytes(_ t: Tensor?) throws -> [UInt8] { try #require(t).readAllBytes() }

  static func floats(_ t: Tensor?) throws -> [Float] {
    let t = try #require(t)
    var out = [Float](repeating: 0, count: t.elementCount)
    try t.withUnsafeBytes { raw in
      try out.withUnsafeMutableBufferPointer { try ElementDecoding.decodeToFloat(raw, dtype: t.dtype, into: $0) }
    }
    return out
  }

  @Test("copies into Mixtral v4: every expert holds the dense bytes, other tensors are the dense values, config set")
  func mixtralCopies() throws {
    let (table, config) = try Self.dense()
    var o = LLMUpcycle.Options()
    o.experts = 3
    o.topK = 2
    let (moe, out, plan) = try LLMUpcycle.upcycle(table, config: config, options: o)
    #expect(moe.count == table.count - 2 * 3 + 2 * (1 + 3 * 3))
    for i in 0..<2 {
      let d = "model.layers.\(i).mlp."
      #expect(!moe.contains(d + "gate_proj.weight"))
      for e in 0..<3 {
        let p = "model.layers.\(i).block_sparse_moe.experts.\(e)."
        #expect(try Self.bytes(moe[p + "w1.weight"]) == Self.bytes(table[d + "gate_proj.weight"]))
        #expect(try Self.bytes(moe[p + "w3.weight"]) == Self.bytes(table[d + "up_proj.weight"]))
        #expect(try Self.bytes(moe[p + "w2.weight"]) == Self.bytes(table[d + "down_proj.weight"]))
      }
      #expect(moe["model.layers.\(i).block_sparse_moe.gate.weight"]?.shape == [3, 32])
    }
    #expect(try Self.bytes(moe["lm_head.weight"]) == Self.bytes(table["lm_head.weight"]))
    #expect(out["model_type"] == "mixtral" && out["architectures"] == ["MixtralForCausalLM"])
    #expect(out["num_local_experts"] == 3 && out["num_experts_per_tok"] == 2 && out["intermediate_size"] == 48)
    // Mixtral's own θ default is 1e6: the dense θ must be spelled out for transformers 4, which ignores
    // rope_parameters.
    #expect(out["rope_theta"] == 10000.0 && out["router_jitter_noise"] == 0.0)
    #expect(plan.copiesExact && plan.layers.map(\.layer) == [0, 1])
  }

  @Test(
    "partition: disjoint sorted sets covering the MLP, gate rows gathered, down columns × E (exact in BF16 for E = 4)")
  func partition() throws {
    let (table, config) = try Self.dense("qwen3", dtype: .bfloat16)
    var o = LLMUpcycle.Options()
    o.target = .qwen3MoE
    o.experts = 4
    o.construction = .partition(.random)
    o.seed = 7
    let (moe, out, plan) = try LLMUpcycle.upcycle(table, config: config, options: o)
    let sets = plan.layers[0].expertUnits
    #expect(sets.allSatisfy { $0 == $0.sorted() && $0.count == 12 })
    #expect(Set(sets.joined()) == Set(0..<48) && sets.joined().count == 48)
    let gate = try Self.floats(table["model.layers.0.mlp.gate_proj.weight"])
    let down = try Self.floats(table["model.layers.0.mlp.down_proj.weight"])
    let g1 = try Self.floats(moe["model.layers.0.mlp.experts.1.gate_proj.weight"])
    let d1 = try Self.floats(moe["model.layers.0.mlp.experts.1.down_proj.weight"])
    for (r, u) in sets[1].enumerated() {
      #expect(Array(g1[(r * 32)..<((r + 1) * 32)]) == Array(gate[(u * 32)..<((u + 1) * 32)]))
      for row in 0..<32 { #expect(d1[row * 12 + r] == down[row * 48 + u] * 4) }
    }
    #expect(out["moe_intermediate_size"] == 12 && out["intermediate_size"] == 48 && out["num_experts"] == 4)
    #expect(out["norm_topk_prob"] == true && out["decoder_sparse_step"] == 1 && out["mlp_only_layers"] == [])
  }

  @Test("Qwen2-MoE from Llama: zero q/k/v biases, shared expert with a zero down projection, layer selection rule")
  func qwen2FromLlama() throws {
    var c = LLMDemo.Configuration()
    c.layers = 4
    let (table, config) = try LLMDemo.model(c)
    var o = LLMUpcycle.Options()
    o.target = .qwen2MoE
    o.experts = 2
    o.topK = 1
    o.layers = .every(2, offset: 1)
    let (moe, out, plan) = try LLMUpcycle.upcycle(table, config: config, options: o)
    #expect(plan.layers.map(\.layer) == [1, 3])
    #expect(out["decoder_sparse_step"] == 2 && out["mlp_only_layers"] == [] && out["qkv_bias"] == true)
    #expect(plan.synthesizedZeros.count == 12)
    #expect(try Self.floats(moe["model.layers.2.self_attn.k_proj.bias"]).allSatisfy { $0.bitPattern == 0 })
    #expect(moe.contains("model.layers.0.mlp.gate_proj.weight") && !moe.contains("model.layers.1.mlp.gate_proj.weight"))
    #expect(try Self.floats(moe["model.layers.1.mlp.shared_expert.down_proj.weight"]).allSatisfy { $0 == 0 })
    #expect(try Self.floats(moe["model.layers.1.mlp.shared_expert_gate.weight"]).contains { $0 != 0 })
    #expect(plan.notes.contains { $0.contains("every layer sparse") })
    // Layers 0 and 2 sparse is not a step rule: listed instead.
    o.layers = .list([0, 2])
    #expect(try LLMUpcycle.upcycle(table, config: config, options: o).config["mlp_only_layers"] == [1, 3])
  }

  @Test("v5 fused: gate_up_proj stacks each expert's gate rows then up rows; down_proj stacks the downs")
  func fused() throws {
    let (table, config) = try Self.dense()
    var o = LLMUpcycle.Options()
    o.layout = .v5Fused
    o.experts = 2
    let (moe, _, _) = try LLMUpcycle.upcycle(table, config: config, options: o)
    let gateUp = try #require(moe["model.layers.0.mlp.experts.gate_up_proj"])
    #expect(gateUp.shape == [2, 96, 32] && moe["model.layers.0.mlp.experts.down_proj"]?.shape == [2, 32, 48])
    let g = try Self.bytes(table["model.layers.0.mlp.gate_proj.weight"])
    let u = try Self.bytes(table["model.layers.0.mlp.up_proj.weight"])
    #expect(try gateUp.readAllBytes() == g + u + g + u)
    #expect(moe.contains("model.layers.0.mlp.gate.weight"))
  }

  @Test("Drop-Upcycling and noise: seeded (same seed, same bytes), r·I rows re-initialised per expert, others kept")
  func dropUpcycling() throws {
    let (table, config) = try Self.dense()
    var o = LLMUpcycle.Options()
    o.experts = 2
    o.dropRatio = 0.25
    o.seed = 3
    let a = try LLMUpcycle.upcycle(table, config: config, options: o)
    let b = try LLMUpcycle.upcycle(table, config: config, options: o)
    let name = "model.layers.0.block_sparse_moe.experts.1.w1.weight"
    #expect(try Self.bytes(a.table[name]) == Self.bytes(b.table[name]))
    let dropped = a.plan.layers[0].dropped[1]
    #expect(dropped.count == 12)
    let dense = try Self.floats(table["model.layers.0.mlp.gate_proj.weight"])
    let expert = try Self.floats(a.table[name])
    for r in 0..<48 {
      let same = Array(expert[(r * 32)..<((r + 1) * 32)]) == Array(dense[(r * 32)..<((r + 1) * 32)])
      #expect(same == !dropped.contains(r))
    }
    o.seed = 4
    #expect(
      try Self.bytes(LLMUpcycle.upcycle(table, config: config, options: o).table[name]) != Self.bytes(a.table[name]))
    o.dropRatio = 0
    o.noise = 0.01
    let noisy = try Self.floats(LLMUpcycle.upcycle(table, config: config, options: o).table[name])
    #expect(zip(noisy, dense).allSatisfy { abs($0 - $1) < 0.1 } && noisy != dense)
  }

  @Test("refusals name the key, tensor or option and build nothing")
  func refusals() throws {
    let (table, config) = try Self.dense()
    var o = LLMUpcycle.Options()
    func error(_ body: () throws -> Void) -> GraftError? {
      do { try body() } catch let e as GraftError { return e } catch { return nil }
      return nil
    }
    o.topK = 9
    #expect(error { _ = try LLMUpcycle.upcycle(table, config: config, options: o) }?.option == "topK")
    o.topK = 2
    var moeConfig = config
    moeConfig["model_type"] = "mixtral"
    #expect(
      error { _ = try LLMUpcycle.upcycle(table, config: moeConfig, options: o) }?.message.contains("already") == true)
    o.layers = .list([1])
    #expect(error { _ = try LLMUpcycle.upcycle(table, config: config, options: o) }?.option == "layers")
    o.layers = .all
    o.experts = 5
    o.construction = .partition(.random)
    #expect(error { _ = try LLMUpcycle.upcycle(table, config: config, options: o) }?.option == "experts")
    o.experts = 4
    o.construction = .copies
    o.target = .qwen3MoE
    #expect(error { _ = try LLMUpcycle.upcycle(table, config: config, options: o) }?.option == "to")
    let (qwen2, qwen2Config) = try Self.dense("qwen2")
    o.target = .mixtral
    #expect(error { _ = try LLMUpcycle.upcycle(qwen2, config: qwen2Config, options: o) }?.option == "to")
    var biased = table
    try biased.append(
      "model.layers.0.self_attn.o_proj.bias", Tensor(float32: [Float](repeating: 0, count: 32), shape: [32]))
    let bias = error { _ = try LLMUpcycle.upcycle(biased, config: config, options: o) }
    #expect(bias?.tensor == "model.layers.0.self_attn.o_proj.bias")
    var missing = table
    missing.removeAll { $0.name == "model.layers.1.mlp.up_proj.weight" }
    #expect(
      error { _ = try LLMUpcycle.upcycle(missing, config: config, options: o) }?.tensor
        == "model.layers.1.mlp.up_proj.weight")
  }
}
