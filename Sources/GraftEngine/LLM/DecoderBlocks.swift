import GraftCore

/// Reads weights for a model build and remembers every tensor it read, so the unread ones can be reported.
final class ConsumingWeightReader {
  let loader: WeightLoader
  /// The checkpoint the table was read from, named in errors.
  let source: String?
  private(set) var used: Set<String> = []

  init(table: TensorTable) {
    loader = WeightLoader(table: table)
    source = table.source
  }

  func contains(_ name: String) -> Bool { loader.contains(name) }

  /// The error with the checkpoint's path filled in.
  func located(_ error: GraftError) -> GraftError { source.map { error.inFile($0) } ?? error }

  func floats(_ name: String, shape: [Int]) throws(GraftError) -> [Float] {
    used.insert(name)
    do { return try loader.floats(name, shape: shape) } catch { throw located(error) }
  }

  /// A tensor that config.json `key` asks for; its absence is an error naming the key.
  func required(_ name: String, shape: [Int], because key: String) throws(GraftError) -> [Float] {
    guard contains(name) else {
      throw located(
        GraftError(
          .invalidModel, "missing tensor; config.json \(key) asks for it (expected shape \(shape))", tensor: name))
    }
    return try floats(name, shape: shape)
  }

  /// The unmerged LoRA paths (``LowRankAdapter``) of the Linears fused into one (`[q; k; v]`, `[gate; up]`), stacked
  /// into one path, or `nil` when none of them has one.
  ///
  /// Stacking is exact: the `down` factors are concatenated, the `up` factors placed block-diagonally, so row block
  /// `i` of the fused output only sees part `i`'s adapter. A part without DoRA gets the factor 1. Only the LoRA check
  /// writes these tensors, next to the base weights, to run base + adapter unmerged.
  func lowRank(_ parts: [(prefix: String, rows: Int)], inFeatures: Int) throws(GraftError) -> LowRankAdapter? {
    var found: [(down: [Float], up: [Float], rank: Int, scale: [Float]?)?] = []
    for part in parts {
      let name = part.prefix + "." + LowRankAdapter.downName
      guard let shape = loader.shape(name) else {
        found.append(nil)
        continue
      }
      guard shape.count == 2, shape[0] > 0 else {
        throw located(GraftError(.invalidModel, "has shape \(shape); expected [R, \(inFeatures)]", tensor: name))
      }
      let r = shape[0]
      let scaleName = part.prefix + "." + LowRankAdapter.scaleName
      found.append(
        (
          try floats(name, shape: [r, inFeatures]),
          try floats(part.prefix + "." + LowRankAdapter.upName, shape: [part.rows, r]), r,
          contains(scaleName) ? try floats(scaleName, shape: [part.rows]) : nil
        ))
    }
    let rank = found.reduce(0) { $0 + ($1?.rank ?? 0) }
    guard rank > 0 else { return nil }
    let out = parts.reduce(0) { $0 + $1.rows }
    var down: [Float] = []
    var up = [Float](repeating: 0, count: out * rank)
    var scale: [Float]? = found.contains { $0?.scale != nil } ? [] : nil
    var (row, column) = (0, 0)
    for (part, f) in zip(parts, found) {
      if let f {
        down += f.down
        for i in 0..<part.rows {
          for j in 0..<f.rank { up[(row + i) * rank + column + j] = f.up[i * f.rank + j] }
        }
        column += f.rank
      }
      scale? += f?.scale ?? [Float](repeating: 1, count: part.rows)
      row += part.rows
    }
    return try LowRankAdapter(
      down: down, up: up, rank: rank, inFeatures: inFeatures, outFeatures: out, scale: scale)
  }

  /// ``required(_:shape:because:)`` when `isRequired`, else `nil` (a present tensor is then left unread).
  func floats(
    _ name: String, shape: [Int], required isRequired: Bool, because key: String
  ) throws(GraftError)
    -> [Float]?
  {
    isRequired ? try required(name, shape: shape, because: key) : nil
  }
}

/// `down(act(gate(x)) ⊙ up(x))` with gate and up fused into one GEMM (`[gate rows; up rows]`).
struct DecoderMLP: Sendable {
  let width: Int
  let gateUp: Linear
  let down: Linear

  init(
    gate: [Float], up: [Float], down: [Float], gateBias: [Float]?, upBias: [Float]?, downBias: [Float]?,
    hidden: Int, width: Int, gateUpLoRA: LowRankAdapter? = nil, downLoRA: LowRankAdapter? = nil
  ) {
    self.width = width
    let bias: [Float]? = gateBias.flatMap { g in upBias.map { g + $0 } }
    gateUp = Linear(weight: gate + up, bias: bias, outFeatures: 2 * width, inFeatures: hidden, lowRank: gateUpLoRA)
    self.down = Linear(weight: down, bias: downBias, outFeatures: hidden, inFeatures: width, lowRank: downLoRA)
  }

  /// Already fused `[gate; up]` rows, as transformers 5 stores `experts.gate_up_proj[e]`.
  init(gateUp: [Float], down: [Float], hidden: Int, width: Int) {
    self.width = width
    self.gateUp = Linear(weight: gateUp, bias: nil, outFeatures: 2 * width, inFeatures: hidden)
    self.down = Linear(weight: down, bias: nil, outFeatures: hidden, inFeatures: width)
  }

  /// Loads `<prefix>{gate,up,down}<suffix>` (`gate_proj`/`up_proj`/`down_proj`, or Mixtral's `w1`/`w3`/`w2`).
  init(
    _ w: ConsumingWeightReader, prefix: String, names: (String, String, String), hidden: Int, width: Int,
    bias: Bool, biasKey: String
  ) throws(GraftError) {
    let (g, u, d) = names
    let gate = try w.floats(prefix + g + ".weight", shape: [width, hidden])
    let up = try w.floats(prefix + u + ".weight", shape: [width, hidden])
    let down = try w.floats(prefix + d + ".weight", shape: [hidden, width])
    self.init(
      gate: gate, up: up, down: down,
      gateBias: try w.floats(prefix + g + ".bias", shape: [width], required: bias, because: biasKey),
      upBias: try w.floats(prefix + u + ".bias", shape: [width], required: bias, because: biasKey),
      downBias: try w.floats(prefix + d + ".bias", shape: [hidden], required: bias, because: biasKey),
      hidden: hidden, width: width,
      gateUpLoRA: try w.lowRank([(prefix + g, width), (prefix + u, width)], inFeatures: hidden),
      downLoRA: try w.lowRank([(prefix + d, hidden)], inFeatures: width))
  }
}

/// A sparse MoE block: softmax router over all experts, top-k, optional renormalisation, optional shared expert.
struct SparseMoE: Sendable {
  let router: Linear
  let experts: [DecoderMLP]
  let topK: Int
  let normalizeTopK: Bool
  /// Qwen2-MoE: the shared expert and its `[1, H]` sigmoid gate.
  let shared: DecoderMLP?
  let sharedGate: Linear?
  /// `v4 per-expert` or `v5 fused`, for reports.
  let layout: String

  init(
    _ w: ConsumingWeightReader, layer: Int, configuration c: LLMConfiguration,
    moe: LLMConfiguration.MixtureOfExperts
  ) throws(GraftError) {
    let h = c.hiddenSize
    let width = moe.expertIntermediateSize
    let e = moe.expertCount
    let base = "model.layers.\(layer)."
    let prefix =
      c.family == .mixtral && w.contains(base + "block_sparse_moe.gate.weight")
      ? base + "block_sparse_moe." : base + "mlp."
    router = Linear(
      weight: try w.floats(prefix + "gate.weight", shape: [e, h]), bias: nil, outFeatures: e, inFeatures: h)
    topK = moe.topK
    normalizeTopK = moe.normalizeTopK
    var experts: [DecoderMLP] = []
    if w.contains(prefix + "experts.gate_up_proj") {
      let gateUp = try w.floats(prefix + "experts.gate_up_proj", shape: [e, 2 * width, h])
      let down = try w.floats(prefix + "experts.down_proj", shape: [e, h, width])
      let gu = 2 * width * h
      let dn = h * width
      for x in 0..<e {
        experts.append(
          DecoderMLP(
            gateUp: Array(gateUp[(x * gu)..<((x + 1) * gu)]), down: Array(down[(x * dn)..<((x + 1) * dn)]),
            hidden: h, width: width))
      }
      layout = "v5 fused (experts.gate_up_proj, experts.down_proj)"
    } else {
      let names = c.family == .mixtral ? ("w1", "w3", "w2") : ("gate_proj", "up_proj", "down_proj")
      for x in 0..<e {
        experts.append(
          try DecoderMLP(
            w, prefix: prefix + "experts.\(x).", names: names, hidden: h, width: width, bias: false, biasKey: ""))
      }
      layout = "v4 per-expert (experts.N.\(names.0)/\(names.1)/\(names.2))"
    }
    self.experts = experts
    if let sharedWidth = moe.sharedExpertIntermediateSize {
      shared = try DecoderMLP(
        w, prefix: prefix + "shared_expert.", names: ("gate_proj", "up_proj", "down_proj"), hidden: h,
        width: sharedWidth, bias: false, biasKey: "")
      sharedGate = Linear(
        weight: try w.floats(prefix + "shared_expert_gate.weight", shape: [1, h]), bias: nil, outFeatures: 1,
        inFeatures: h)
    } else {
      shared = nil
      sharedGate = nil
    }
  }
}

/// A layer's MLP: dense, or the sparse MoE block.
enum DecoderFeedForward: Sendable {
  case dense(DecoderMLP)
  case sparse(SparseMoE)
}

/// One decoder layer: pre-norm attention and pre-norm MLP, both residual.
struct DecoderLayer: Sendable {
  let inputNorm: [Float]
  /// q, k and v projections fused: rows `[q (heads·D); k (kvHeads·D); v (kvHeads·D)]`.
  let qkv: Linear
  let output: Linear
  let queryNorm: [Float]?
  let keyNorm: [Float]?
  let postNorm: [Float]
  let feedForward: DecoderFeedForward
  /// The sliding window W, or `nil` for full causal attention.
  let window: Int?

  init(_ w: ConsumingWeightReader, index i: Int, configuration c: LLMConfiguration) throws(GraftError) {
    let p = "model.layers.\(i)."
    let h = c.hiddenSize
    let d = c.headDim
    let qRows = c.attentionHeads * d
    let kvRows = c.keyValueHeads * d
    let biasKey = c.family == .qwen2MoE ? "qkv_bias" : c.family == .qwen2 ? "model_type qwen2" : "attention_bias"
    inputNorm = try w.floats(p + "input_layernorm.weight", shape: [h])
    let a = p + "self_attn."
    let q = try w.floats(a + "q_proj.weight", shape: [qRows, h])
    let k = try w.floats(a + "k_proj.weight", shape: [kvRows, h])
    let v = try w.floats(a + "v_proj.weight", shape: [kvRows, h])
    var bias: [Float]?
    if c.qkvBias {
      bias =
        try w.required(a + "q_proj.bias", shape: [qRows], because: biasKey)
        + w.required(a + "k_proj.bias", shape: [kvRows], because: biasKey)
        + w.required(a + "v_proj.bias", shape: [kvRows], because: biasKey)
    }
    qkv = Linear(
      weight: q + k + v, bias: bias, outFeatures: qRows + 2 * kvRows, inFeatures: h,
      lowRank: try w.lowRank([(a + "q_proj", qRows), (a + "k_proj", kvRows), (a + "v_proj", kvRows)], inFeatures: h))
    output = Linear(
      weight: try w.floats(a + "o_proj.weight", shape: [h, qRows]),
      bias: try w.floats(a + "o_proj.bias", shape: [h], required: c.outputBias, because: "attention_bias"),
      outFeatures: h, inFeatures: qRows, lowRank: try w.lowRank([(a + "o_proj", h)], inFeatures: qRows))
    queryNorm = c.queryKeyNorm ? try w.floats(a + "q_norm.weight", shape: [d]) : nil
    keyNorm = c.queryKeyNorm ? try w.floats(a + "k_norm.weight", shape: [d]) : nil
    postNorm = try w.floats(p + "post_attention_layernorm.weight", shape: [h])
    if c.isSparse(layer: i), let moe = c.mixtureOfExperts {
      feedForward = .sparse(try SparseMoE(w, layer: i, configuration: c, moe: moe))
    } else {
      feedForward = .dense(
        try DecoderMLP(
          w, prefix: p + "mlp.", names: ("gate_proj", "up_proj", "down_proj"), hidden: h, width: c.intermediateSize,
          bias: c.mlpBias, biasKey: "mlp_bias"))
    }
    window = c.slidingWindows[i]
  }
}
