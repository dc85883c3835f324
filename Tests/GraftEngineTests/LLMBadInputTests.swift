import GraftCore
import TestSupport
import Testing

@testable import GraftEngine

/// A table with one tensor replaced, added or removed.
func modifiedTable(_ table: TensorTable, _ name: String, _ tensor: Tensor?) throws -> TensorTable {
  var out = TensorTable()
  for entry in table.entries where entry.name != name { try out.append(entry.name, entry.tensor) }
  if let tensor { try out.append(name, tensor) }
  return out
}

@Suite("CausalLM: tensor accounting, layouts and bad input")
struct LLMBadInputTests {
  func expectError(
    _ code: GraftError.Code, mentions fragments: [String], sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> Void
  ) {
    do {
      try body()
      Issue.record("no error", sourceLocation: sourceLocation)
    } catch let error as GraftError {
      #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
      let text = error.description
      for f in fragments { #expect(text.contains(f), "\(text) lacks \(f)", sourceLocation: sourceLocation) }
    } catch {
      Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
    }
  }

  @Test("unused tensors are an error listing them, or ignored and reported when allowed")
  func unusedTensors() throws {
    let fixture = try LLMFixture("llama")
    let extra = try modifiedTable(
      fixture.weights, "model.layers.0.self_attn.rotary_emb.inv_freq", Tensor(float32: [1, 2], shape: [2]))
    let c = try fixture.configuration()
    expectError(.invalidModel, mentions: ["1 tensor(s) are not used", "rotary_emb.inv_freq"]) {
      _ = try CausalLM(configuration: c, weights: extra)
    }
    var options = CausalLM.BuildOptions()
    options.allowUnusedTensors = true
    let model = try CausalLM(configuration: c, weights: extra, options: options)
    #expect(model.ignoredTensors == ["model.layers.0.self_attn.rotary_emb.inv_freq"])
  }

  @Test("biases the config asks for must exist; biases it does not ask for are unused")
  func biases() throws {
    let qwen2 = try LLMFixture("qwen2")
    let noBias = try modifiedTable(qwen2.weights, "model.layers.1.self_attn.k_proj.bias", nil)
    expectError(.invalidModel, mentions: ["model.layers.1.self_attn.k_proj.bias", "model_type qwen2"]) {
      _ = try CausalLM(configuration: qwen2.configuration(), weights: noBias)
    }
    let llama = try LLMFixture("llama")
    var config = llama.config
    config["attention_bias"] = false
    config["mlp_bias"] = false
    expectError(.invalidModel, mentions: ["not used", "q_proj.bias"]) {
      _ = try CausalLM(configuration: LLMConfiguration(json: config), weights: llama.weights)
    }
  }

  @Test("tied embeddings: a stored lm_head must equal the embeddings; an untied model needs lm_head")
  func tiedHead() throws {
    let tied = try LLMFixture("llama_linear_tied")
    let embed = try #require(tied.weights["model.embed_tokens.weight"])
    let same = try modifiedTable(tied.weights, "lm_head.weight", embed)
    let model = try CausalLM(configuration: tied.configuration(), weights: same)
    #expect(model.notes.contains { $0.contains("equals model.embed_tokens.weight") })
    var values = try floatValues(embed)
    values[0] += 1
    let different = try modifiedTable(tied.weights, "lm_head.weight", Tensor(float32: values, shape: embed.shape))
    expectError(.invalidModel, mentions: ["lm_head.weight", "tie_word_embeddings"]) {
      _ = try CausalLM(configuration: tied.configuration(), weights: different)
    }
    let llama = try LLMFixture("llama")
    let headless = try modifiedTable(llama.weights, "lm_head.weight", nil)
    expectError(.invalidModel, mentions: ["lm_head.weight", "tie_word_embeddings false"]) {
      _ = try CausalLM(configuration: llama.configuration(), weights: headless)
    }
  }

  @Test("misshapen weights and bad tokens are refused with the tensor or position named")
  func badShapesAndTokens() throws {
    let fixture = try LLMFixture("mistral")
    let wrong = try modifiedTable(
      fixture.weights, "model.layers.0.self_attn.q_proj.weight",
      Tensor(float32: .init(repeating: 0, count: 32 * 32), shape: [32, 32]))
    expectError(.invalidModel, mentions: ["q_proj.weight", "[48, 32]"]) {
      _ = try CausalLM(configuration: fixture.configuration(), weights: wrong)
    }
    let model = try fixture.model()
    expectError(.invalidArgument, mentions: ["token id 96", "position 1"]) { _ = try model.forward(tokens: [[1, 96]]) }
    expectError(.invalidArgument, mentions: ["token id -1"]) { _ = try model.forward(tokens: [[-1]]) }
    expectError(.invalidArgument, mentions: ["equal length"]) { _ = try model.forward(tokens: [[1, 2], [3]]) }
    expectError(.invalidArgument, mentions: ["batch"]) { _ = try model.forward(tokens: []) }
  }

  @Test("Mixtral in the transformers 5 fused layout computes exactly what the v4 per-expert layout computes")
  func fusedMixtral() throws {
    let fixture = try LLMFixture("mixtral")
    let c = try fixture.configuration()
    let e = 4
    var fused = TensorTable()
    for entry in fixture.weights.entries where !entry.name.contains("block_sparse_moe") {
      try fused.append(entry.name, entry.tensor)
    }
    for layer in 0..<c.layerCount {
      let p = "model.layers.\(layer).block_sparse_moe."
      func values(_ name: String) throws -> [Float] { try floatValues(#require(fixture.weights[p + name])) }
      var gateUp: [Float] = []
      var down: [Float] = []
      for x in 0..<e {
        gateUp += try values("experts.\(x).w1.weight") + values("experts.\(x).w3.weight")
        down += try values("experts.\(x).w2.weight")
      }
      let q = "model.layers.\(layer).mlp."
      let h = c.hiddenSize
      let i = c.intermediateSize
      try fused.append(q + "gate.weight", #require(fixture.weights[p + "gate.weight"]))
      try fused.append(q + "experts.gate_up_proj", Tensor(float32: gateUp, shape: [e, 2 * i, h]))
      try fused.append(q + "experts.down_proj", Tensor(float32: down, shape: [e, h, i]))
    }
    let v5 = try CausalLM(configuration: c, weights: fused)
    #expect(v5.notes.contains { $0.contains("v5 fused") })
    let tokens = try fixture.rows("tokens")
    #expect(try v5.forward(tokens: tokens).logits == fixture.model().forward(tokens: tokens).logits)
  }

  @Test("gated activations match scalar references (SiLU, GELU erf and tanh)")
  func activations() {
    let x: [Float] = [-6, -2.5, -1, -0.25, 0, 0.3, 1, 2, 5, 9]
    let up: [Float] = x.map { 0.5 + $0 * 0.1 }
    for activation in [LLMConfiguration.Activation.silu, .gelu, .geluTanh] {
      var out = [Float](repeating: 0, count: x.count)
      (x + up).withUnsafeBufferPointer { gu in
        out.withUnsafeMutableBufferPointer { o in
          LLMKernels.gatedActivation(
            gu.baseAddress.unsafelyUnwrapped, rows: 1, width: x.count, into: o.baseAddress.unsafelyUnwrapped,
            activation: activation)
        }
      }
      for (j, v) in x.enumerated() {
        let d = Double(v)
        let act: Double
        switch activation {
        case .silu: act = d / (1 + Elementary.exp(-d))
        case .gelu: act = Elementary.gelu(d)
        case .geluTanh:
          let inner = 0.797_884_560_802_865_4 * (d + 0.044_715 * d * d * d)
          act = 0.5 * d * (1 + (Elementary.exp(2 * inner) - 1) / (Elementary.exp(2 * inner) + 1))
        }
        let want = act * Double(up[j])
        #expect(abs(Double(out[j]) - want) <= 2e-6 * max(1, abs(want)), "\(activation) at \(v): \(out[j]) vs \(want)")
      }
    }
  }
}
