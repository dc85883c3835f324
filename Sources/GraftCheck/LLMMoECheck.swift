public import GraftCore
import GraftEngine
public import GraftSurgery

/// The checks run after every dense → MoE upcycling of an LLM: the output's configuration and key set against the
/// target architecture, the bytes of every tensor against the dense model, the exactness table of the construction
/// on each sparse layer, and an engine run of both whole models on seeded token ids (``LLMCheck``'s figures).
///
/// Everything except the whole-model run streams its weights (about 1 MiB at a time), so a check of a model larger
/// than memory is possible; the whole-model run builds both models in Float32 and is skipped, as an info row
/// naming the option, when they would exceed ``Options/wholeModelByteLimit``.
public enum LLMMoECheck {
  /// How the checks run.
  public struct Options: Sendable {
    /// Seeded hidden vectors per sparse layer for the exactness table.
    public var probeRows = 8
    /// The seed of those vectors.
    public var seed: UInt64 = 0
    /// The relative tolerance `max|y − f| / max|f|` of exact constructions: Float32 rounding of the renormalised
    /// weights is ≈ 1e-7, a missing or wrong expert ≈ 1.
    public var tolerance = 1e-5
    /// Whether to run both whole models through the engine.
    public var wholeModel = true
    /// The largest Float32 size of both models together for the whole-model run.
    public var wholeModelByteLimit = 2 << 30
    /// The whole-model run's settings.
    public var engine = LLMCheck.Options()
    /// Creates the documented defaults.
    public init() {}
  }

  /// The reports of one verification.
  public struct Result: Sendable {
    /// Structure, bytes and the exactness table.
    public var checks: CheckReport
    /// The whole-model engine comparison, unless it was skipped (the reason is then a row of ``checks``).
    public var engine: CheckReport?
    /// Whether nothing failed.
    public var passed: Bool { checks.passed && (engine?.passed ?? true) }
  }

  /// Verifies `moe` (table and config.json) against `dense` for the construction `plan` describes.
  ///
  /// - Throws: when the dense configuration does not parse or a model does not build; a wrong output is a failed
  ///   row, not an error.
  public static func verify(
    dense: (table: TensorTable, config: JSONObject), moe: (table: TensorTable, config: JSONObject),
    plan: LLMUpcycle.Plan, options: Options = Options()
  ) throws(GraftError) -> Result {
    let denseConfiguration = try LLMConfiguration(json: dense.config)
    var report = CheckReport(
      kind: "llm-moe",
      header: [
        "MoE checks (exact rows must hold within their limit; info rows measure constructions that are not exact)"
      ],
      columns: MoECheck.columns)
    let moeConfiguration: LLMConfiguration
    do { moeConfiguration = try LLMConfiguration(json: moe.config) } catch {
      report.rows.append(
        row("config", .structural, 1, limit: 0, note: "the output config.json does not parse: \(error)"))
      return Result(checks: report, engine: nil)
    }
    report.rows.append(configRow(denseConfiguration, moeConfiguration, plan: plan))
    report.rows.append(
      keyRow(dense: dense.table, moe: moe.table, configuration: moeConfiguration, plan: plan))
    let (byteRows, identical) = try byteRows(
      dense: dense.table, moe: moe.table, configuration: moeConfiguration, plan: plan)
    report.rows += byteRows
    var exactAsWritten = true
    for layer in plan.layers {
      let (rows, asWritten) = try probe(
        dense: dense.table, moe: moe.table, layer: layer, plan: plan, configuration: moeConfiguration,
        identical: identical, options: options)
      report.rows += rows
      exactAsWritten = exactAsWritten && asWritten <= options.tolerance
    }
    var result = Result(checks: report, engine: nil)
    guard options.wholeModel else { return result }
    let bytes = 4 * (dense.table.parameterCount + moe.table.parameterCount)
    guard bytes <= options.wholeModelByteLimit else {
      result.checks.rows.append(
        row(
          "whole model", .report, .nan, limit: nil,
          note: "engine run skipped: both models need \(Format.bytes(bytes)) in Float32, above the limit of "
            + "\(Format.bytes(options.wholeModelByteLimit)) (raise the whole-model byte limit, wholeModelByteLimit, to run it)"
        ))
      return result
    }
    var engine = try LLMCheck.compare(
      before: (dense.table, denseConfiguration), after: (moe.table, moeConfiguration), options: options.engine)
    if !exactAsWritten {
      // A construction that is not exact cannot be held to the bound: the figures are information.
      for i in engine.rows.indices where engine.rows[i].outcome == .failed {
        engine.rows[i].outcome = .info
        engine.rows[i].note = "not exact by construction"
      }
      engine.header.append("the construction is not exact as written: differences are information")
    }
    result.engine = engine
    return result
  }

  // MARK: - Configuration and keys

  /// Everything the dense computation depends on must carry over, and the MoE settings must be the plan's.
  static func configRow(_ d: LLMConfiguration, _ m: LLMConfiguration, plan: LLMUpcycle.Plan) -> CheckReport.Row {
    var wrong: [String] = []
    func same<T: Equatable>(_ name: String, _ a: T, _ b: T) { if a != b { wrong.append("\(name) \(a) → \(b)") } }
    same("vocab_size", d.vocabularySize, m.vocabularySize)
    same("hidden_size", d.hiddenSize, m.hiddenSize)
    same("num_hidden_layers", d.layerCount, m.layerCount)
    same("num_attention_heads", d.attentionHeads, m.attentionHeads)
    same("num_key_value_heads", d.keyValueHeads, m.keyValueHeads)
    same("head_dim", d.headDim, m.headDim)
    same("rms_norm_eps", d.rmsNormEpsilon, m.rmsNormEpsilon)
    same("hidden_act", d.activation, m.activation)
    same("tie_word_embeddings", d.tieWordEmbeddings, m.tieWordEmbeddings)
    same("rope", d.rope, m.rope)
    same("sliding windows", d.slidingWindows, m.slidingWindows)
    same("q/k norm", d.queryKeyNorm, m.queryKeyNorm)
    same("max_position_embeddings", d.maxPositionEmbeddings, m.maxPositionEmbeddings)
    let sparse = (0..<m.layerCount).map { i in plan.layers.contains { $0.layer == i } }
    if let moe = m.mixtureOfExperts {
      same("experts", plan.experts, moe.expertCount)
      same("num_experts_per_tok", plan.topK, moe.topK)
      same("norm_topk_prob", plan.normalizeTopK, moe.normalizeTopK)
      same("expert width", plan.expertWidth, moe.expertIntermediateSize)
      same("sparse layers", sparse, moe.sparseLayers)
      same("shared expert width", plan.sharedExpert == nil ? nil : plan.denseWidth, moe.sharedExpertIntermediateSize)
      if !sparse.allSatisfy({ $0 }) { same("dense layer width", d.intermediateSize, m.intermediateSize) }
    } else {
      wrong.append("model_type \(m.family.rawValue) is not a mixture of experts")
    }
    same("model_type", plan.target.modelType, m.family.rawValue)
    return row(
      "config", .structural, Double(wrong.count), limit: 0,
      note: wrong.isEmpty
        ? "every dense setting carried over; MoE settings as planned"
        : "differs: " + wrong.prefix(4).joined(separator: "; "))
  }

  /// The expected keys and shapes of the target architecture, derived from the output's configuration and the
  /// dense model's non-MLP tensors.
  static func expectedKeys(
    dense: TensorTable, configuration c: LLMConfiguration, layout: LLMMoELayout
  ) -> [String: [Int]] {
    var out: [String: [Int]] = [:]
    let sparse = Set((0..<c.layerCount).filter { c.isSparse(layer: $0) })
    for entry in dense.entries {
      if let i = layerIndex(entry.name), sparse.contains(i), entry.name.contains(".mlp.") { continue }
      out[entry.name] = entry.tensor.shape
    }
    let h = c.hiddenSize
    for i in 0..<c.layerCount {
      if c.qkvBias {
        let p = "model.layers.\(i).self_attn."
        out[p + "q_proj.bias"] = [c.attentionHeads * c.headDim]
        out[p + "k_proj.bias"] = [c.keyValueHeads * c.headDim]
        out[p + "v_proj.bias"] = [c.keyValueHeads * c.headDim]
      }
      guard sparse.contains(i), let moe = c.mixtureOfExperts else { continue }
      let e = moe.expertCount
      let w = moe.expertIntermediateSize
      let mixtralV4 = c.family == .mixtral && layout == .v4
      let base = "model.layers.\(i)." + (mixtralV4 ? "block_sparse_moe." : "mlp.")
      out[base + "gate.weight"] = [e, h]
      if layout == .v5Fused {
        out[base + "experts.gate_up_proj"] = [e, 2 * w, h]
        out[base + "experts.down_proj"] = [e, h, w]
      } else {
        let names = mixtralV4 ? ("w1", "w3", "w2") : ("gate_proj", "up_proj", "down_proj")
        for x in 0..<e {
          let p = base + "experts.\(x)."
          out[p + names.0 + ".weight"] = [w, h]
          out[p + names.1 + ".weight"] = [w, h]
          out[p + names.2 + ".weight"] = [h, w]
        }
      }
      if let s = moe.sharedExpertIntermediateSize {
        out[base + "shared_expert.gate_proj.weight"] = [s, h]
        out[base + "shared_expert.up_proj.weight"] = [s, h]
        out[base + "shared_expert.down_proj.weight"] = [h, s]
        out[base + "shared_expert_gate.weight"] = [1, h]
      }
    }
    return out
  }

  static func keyRow(
    dense: TensorTable, moe: TensorTable, configuration: LLMConfiguration, plan: LLMUpcycle.Plan
  ) -> CheckReport.Row {
    let expected = expectedKeys(dense: dense, configuration: configuration, layout: plan.layout)
    let names = Set(moe.names)
    let missing = expected.keys.filter { !names.contains($0) }.sorted()
    let unexpected = names.filter { expected[$0] == nil }.sorted()
    let misshapen = names.filter { n in expected[n].map { $0 != moe[n]?.shape } ?? false }.sorted()
    var problems: [String] = []
    if !missing.isEmpty { problems.append("missing \(missing.count): " + missing.prefix(3).joined(separator: ", ")) }
    if !unexpected.isEmpty {
      problems.append("unexpected \(unexpected.count): " + unexpected.prefix(3).joined(separator: ", "))
    }
    if !misshapen.isEmpty {
      problems.append("misshapen \(misshapen.count): " + misshapen.prefix(3).joined(separator: ", "))
    }
    return row(
      "keys", .structural, Double(missing.count + unexpected.count + misshapen.count), limit: 0,
      note: problems.isEmpty
        ? "\(names.count) keys = \(plan.target.architecture) (\(plan.layout.rawValue)) with shapes"
        : problems.joined(separator: "; "))
  }

  static func layerIndex(_ name: String) -> Int? {
    guard name.hasPrefix("model.layers.") else { return nil }
    return Int(name.dropFirst("model.layers.".count).prefix { $0 != "." })
  }

  // MARK: - Rows

  static func row(
    _ name: String, _ kind: MoECheck.Kind, _ value: Double, limit: Double?, passed: Bool? = nil, note: String
  ) -> CheckReport.Row {
    let ok = passed ?? (limit.map { value <= $0 } ?? value.isFinite || value.isNaN)
    return MoECheck.row(name: name, kind: kind, value: value, limit: limit, passed: ok, note: note)
  }
}
