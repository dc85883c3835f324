import GraftCore
import GraftFormats
import TestSupport
import Testing

@testable import GraftEngine

/// A Hugging Face folder written by `scripts/fixtures/llm.py`: its weights, parsed config.json and transformers'
/// outputs.
struct LLMFixture {
  let name: String
  let weights: TensorTable
  let config: JSONObject
  let io: TensorTable

  init(_ name: String) throws {
    self.name = name
    let folder = TestPaths.fixture("llm/\(name)")
    // The folder holds io.safetensors next to the weights; read the weights by name or through the index.
    weights =
      FileSystem.exists(folder + "/model.safetensors.index.json")
      ? try SafeTensors.readSharded(path: folder) : try SafeTensors.read(path: folder + "/model.safetensors")
    let text = String(decoding: try FileSystem.readAll(folder + "/config.json"), as: UTF8.self)
    config = try #require(try JSONParser.parse(text).objectValue)
    io = try SafeTensors.read(path: folder + "/io.safetensors")
  }

  func configuration() throws -> LLMConfiguration { try LLMConfiguration(json: config) }

  func model() throws -> CausalLM { try CausalLM(configuration: configuration(), weights: weights) }

  /// An int32 tensor of the io file as rows.
  func rows(_ key: String) throws -> [[Int32]] {
    let t = try #require(io[key], "io tensor \(key)")
    let flat = try t.withUnsafeBytes { raw in
      (0..<(raw.count / 4)).map { Int32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self)) }
    }
    let width = t.shape[1]
    return (0..<t.shape[0]).map { Array(flat[($0 * width)..<(($0 + 1) * width)]) }
  }

  func floats(_ key: String) throws -> FloatTensor {
    let t = try #require(io[key], "io tensor \(key)")
    return try FloatTensor(shape: t.shape, values: floatValues(t))
  }
}

@Suite("Decoder-only LLMs against transformers 5.25 (eager, float32)")
struct LLMFixtureTests {
  static let fixtures = [
    "llama", "llama_llama3", "llama_linear_tied", "llama_dynamic", "llama_bf16", "mistral", "qwen2", "qwen3",
    "mixtral", "qwen2_moe", "qwen3_moe",
  ]

  // Tolerance: the engine and torch sum the same float32 products in different orders (blocked SGEMM against
  // MKL/oneDNN, SIMD reductions in RMSNorm and softmax), so logits differ at the 1e-6 relative level after two
  // layers; 1e-4 · max|logits| leaves two orders of magnitude of margin and still catches any wrong term (a missing
  // bias or norm weight moves logits by ≥ 1e-2 relative in these fixtures).
  @Test("logits and every layer's hidden state match transformers within 1e-4 × max|value|", arguments: fixtures)
  func matchesTransformers(name: String) throws {
    let fixture = try LLMFixture(name)
    let model = try fixture.model()
    let tokens = try fixture.rows("tokens")
    let out = try model.forward(tokens: tokens, hiddenStates: true)
    let want = try fixture.floats("logits")
    #expect(out.logits.shape == want.shape)
    let (e, s) = errorAndScale(out.logits, want)
    print("[\(name)] logits \(want.shape): max |Δ| \(e), max|logits| \(s), ratio \(e / s)")
    #expect(e <= 1e-4 * s)
    #expect(out.hiddenStates.count == model.configuration.layerCount)
    for (i, h) in out.hiddenStates.enumerated() {
      let ref = try fixture.floats("hidden.\(i)")
      #expect(h.shape == ref.shape)
      let (he, hs) = errorAndScale(h, ref)
      print("[\(name)] hidden.\(i): max |Δ| \(he), max|h| \(hs), ratio \(he / hs)")
      #expect(he <= 1e-4 * hs)
    }
  }

  @Test("32 greedy tokens with the KV cache equal transformers' generate(do_sample=False)", arguments: fixtures)
  func greedyGeneration(name: String) throws {
    let fixture = try LLMFixture(name)
    let model = try fixture.model()
    let got = try model.generate(prompts: fixture.rows("tokens"), steps: 32)
    let want = try fixture.rows("generated")
    #expect(got == want, "[\(name)] generated \(got) want \(want)")
  }

  @Test("cached decoding gives the logits of recomputing the whole prefix")
  func cacheEqualsRecompute() throws {
    // Mistral's window (5) is shorter than the sequence, so the cache path must apply it too.
    for name in ["mistral", "qwen3_moe"] {
      let fixture = try LLMFixture(name)
      let model = try fixture.model()
      let tokens = try fixture.rows("tokens")
      let session = model.makeSession(batch: 2, capacity: 4)
      _ = try session.append(tokens.map { Array($0.prefix(5)) }, allLogits: false)
      var last = try session.append(tokens.map { Array($0[5..<9]) }, allLogits: true)
      for i in 9..<tokens[0].count { last = try session.append(tokens.map { [$0[i]] }, allLogits: true) }
      let full = try model.forward(tokens: tokens)
      let v = model.configuration.vocabularySize
      let t = tokens[0].count
      for b in 0..<2 {
        let got = Array(last.logits.values[(b * v)..<((b + 1) * v)])
        let want = Array(full.logits.values[((b * t + t - 1) * v)..<((b * t + t) * v)])
        let report = allClose(got, want, rtol: 1e-5, atol: 1e-5)
        #expect(report.passed, "[\(name)] sequence \(b): \(report)")
      }
      #expect(session.length == t)
    }
  }
}
