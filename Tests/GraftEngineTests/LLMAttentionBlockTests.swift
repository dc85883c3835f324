import GraftCore
import TestSupport
import Testing

@testable import GraftEngine

/// Prefill in query blocks against decoding one token at a time.
///
/// Prefill splits the queries into blocks of ``LLMSession/queryBlock`` rows and runs the query heads that share a KV
/// head as one GEMM over the block; decoding has one row per block. Both must give the same logits at every position.
@Suite("LLM attention: query blocks and grouped heads")
struct LLMAttentionBlockTests {
  @Test("a prefill longer than two query blocks equals token-by-token decoding", arguments: ["llama", "mistral"])
  func blocksEqualDecoding(name: String) throws {
    // llama: 4 query heads on 2 KV heads; mistral: the same grouping with a sliding window of 5.
    let fixture = try LLMFixture(name)
    let model = try fixture.model()
    let v = model.configuration.vocabularySize
    let t = 2 * LLMSession.queryBlock + 5
    var rng = SplitMix64(seed: 3)
    let tokens = (0..<t).map { _ in Int32(rng.below(v)) }
    #expect(model.configuration.attentionHeads > model.configuration.keyValueHeads)
    let full = try model.forward(tokens: [tokens])
    let session = model.makeSession(batch: 1, capacity: 8)
    for i in 0..<t {
      let step = try session.append([[tokens[i]]], allLogits: true)
      let want = Array(full.logits.values[(i * v)..<((i + 1) * v)])
      let report = allClose(step.logits.values, want, rtol: 1e-4, atol: 1e-5)
      #expect(report.passed, "[\(name)] position \(i): \(report)")
      if !report.passed { break }
    }
  }
}
