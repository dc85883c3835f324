import GraftCheck
import GraftCore
import GraftDemo
import GraftEngine
import GraftSurgery
import Testing

@Suite("LLM checks: dense vs dense, dense vs upcycled MoE")
struct LLMCheckTests {
  static func dense(_ family: String = "llama") throws -> (TensorTable, JSONObject) {
    var c = LLMDemo.Configuration()
    c.family = family
    return try LLMDemo.model(c)
  }

  static func upcycled(
    _ options: LLMUpcycle.Options, family: String = "llama"
  ) throws -> (dense: (TensorTable, JSONObject), moe: (TensorTable, JSONObject), plan: LLMUpcycle.Plan) {
    let d = try dense(family)
    let r = try LLMUpcycle.upcycle(d.0, config: d.1, options: options)
    return (d, (r.table, r.config), r.plan)
  }

  /// The tiny Llama upcycled into two copies per layer.
  static func twoCopies() throws -> (
    dense: (TensorTable, JSONObject), moe: (TensorTable, JSONObject), plan: LLMUpcycle.Plan
  ) {
    var o = LLMUpcycle.Options()
    o.experts = 2
    return try upcycled(o)
  }

  @Test("the same model passes with zero KL and full top-1 agreement; a perturbed head fails the logits bound")
  func denseComparison() throws {
    let (table, config) = try Self.dense()
    let c = try LLMConfiguration(json: config)
    let same = try LLMCheck.compare(before: (table, c), after: (table, c))
    #expect(same.passed && same.rows.count == 3)
    let logits = try #require(same.row("logits"))
    #expect(logits.number("kl_max") == 0 && logits.number("argmax") == 1 && logits.number("max_abs") == 0)
    var changed = table
    let head = try #require(table["lm_head.weight"])
    try changed.replace(
      "lm_head.weight",
      with: Tensor(float32: [Float](repeating: 0.3, count: head.elementCount), shape: head.shape))
    let report = try LLMCheck.compare(before: (table, c), after: (changed, c))
    #expect(!report.passed && report.row("layer.1")?.outcome == .passed)
    #expect(try #require(report.row("logits")?.number("kl_max")) > 1e-3)
  }

  @Test("KL divergence of two distributions matches the closed form")
  func divergence() {
    let p: [Float] = [0, Float(2).squareRoot().squareRoot(), -1]
    let q: [Float] = [1, 0, 0.5]
    func softmax(_ x: [Float]) -> [Double] {
      let e = x.map { Elementary.exp(Double($0)) }
      return e.map { $0 / e.reduce(0, +) }
    }
    let (a, b) = (softmax(p), softmax(q))
    let expected = zip(a, b).reduce(0) { $0 + $1.0 * Elementary.log($1.0 / $1.1) }
    let kl = p.withUnsafeBufferPointer { pp in q.withUnsafeBufferPointer { LLMCheck.divergence(pp, $0) } }
    #expect(abs(kl - expected) < 1e-12)
  }

  @Test("copies into Mixtral pass every check, the whole-model run included")
  func copiesPass() throws {
    var o = LLMUpcycle.Options()
    o.experts = 4
    let (d, m, plan) = try Self.upcycled(o)
    let result = try LLMMoECheck.verify(dense: d, moe: m, plan: plan)
    #expect(result.passed, "\(result.checks.lines.joined(separator: "\n"))")
    #expect(result.checks.row("layer.0 copies")?.outcome == .passed)
    #expect(try #require(result.engine?.row("logits")?.number("relative")) < 1e-5)
  }

  @Test("a tampered expert, a missing key and a changed dense tensor each fail their row; nothing else is blamed")
  func tampering() throws {
    let (d, m, plan) = try Self.twoCopies()
    var moe = m.0
    let name = "model.layers.1.block_sparse_moe.experts.1.w2.weight"
    let t = try #require(moe[name])
    try moe.replace(name, with: Tensor(float32: [Float](repeating: 0.01, count: t.elementCount), shape: t.shape))
    var checks = try LLMMoECheck.verify(dense: d, moe: (moe, m.1), plan: plan).checks
    #expect(checks.row("expert slices")?.outcome == .failed && checks.row("keys")?.outcome == .passed)
    #expect(checks.row("layer.1 copies")?.outcome == .failed && checks.row("layer.0 copies")?.outcome == .passed)
    moe = m.0
    moe.removeAll { $0.name == "model.norm.weight" }
    try moe.append("model.extra.weight", Tensor(float32: [1], shape: [1]))
    var options = LLMMoECheck.Options()
    options.wholeModel = false
    checks = try LLMMoECheck.verify(dense: d, moe: (moe, m.1), plan: plan, options: options).checks
    #expect(checks.row("keys")?.number("value") == 2)
    moe = m.0
    try moe.replace("model.norm.weight", with: Tensor(float32: [Float](repeating: 1, count: 32), shape: [32]))
    checks = try LLMMoECheck.verify(dense: d, moe: (moe, m.1), plan: plan, options: options).checks
    #expect(checks.row("non-expert tensors")?.outcome == .failed)
  }

  @Test("a changed config (rope θ) fails the config row; the whole-model limit turns the engine run into an info row")
  func configAndLimit() throws {
    let (d, m, plan) = try Self.twoCopies()
    var config = m.1
    config["rope_parameters"] = ["rope_type": "default", "rope_theta": 1_000_000.0]
    config["rope_theta"] = 1_000_000.0
    var options = LLMMoECheck.Options()
    options.wholeModelByteLimit = 0
    let result = try LLMMoECheck.verify(dense: d, moe: (m.0, config), plan: plan, options: options)
    #expect(result.checks.row("config")?.outcome == .failed)
    #expect(result.engine == nil && result.checks.row("whole model")?.outcome == .info)
  }

  @Test("exactness table: partition exact with all experts; Qwen3 without renormalisation predicted, not exact")
  func exactnessTable() throws {
    var o = LLMUpcycle.Options()
    o.target = .qwen3MoE
    o.experts = 4
    o.topK = 2
    o.construction = .partition(.random)
    let (d, m, plan) = try Self.upcycled(o, family: "qwen3")
    let result = try LLMMoECheck.verify(dense: d, moe: m, plan: plan)
    #expect(result.passed)
    #expect(result.checks.row("layer.0 partition")?.outcome == .passed)
    #expect(result.checks.row("layer.0 top-2 as written")?.outcome == .info)
    #expect(result.engine?.rows.allSatisfy { $0.outcome == .info } == true)
    o.construction = .copies
    o.normalizeTopK = false
    let (d2, m2, plan2) = try Self.upcycled(o, family: "qwen3")
    let unnormalised = try LLMMoECheck.verify(dense: d2, moe: m2, plan: plan2)
    #expect(unnormalised.passed && unnormalised.checks.row("layer.1 predicted")?.outcome == .passed)
    #expect(try #require(unnormalised.engine?.row("logits")?.number("relative")) > 1e-3)
  }
}
