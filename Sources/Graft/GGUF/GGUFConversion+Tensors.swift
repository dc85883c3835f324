extension GGUFConversion {
  /// The tensors of a Hugging Face model under llama.cpp's names, lazily: Q/K permuted where the architecture needs
  /// it, experts stacked into `ffn_*_exps`, fused transformers 5 experts split, `rope_freqs` computed for llama3 RoPE.
  ///
  /// Every input tensor is either mapped or refused by name; the result must be exactly the set llama.cpp's loader
  /// creates for this configuration (it refuses files with more or fewer tensors).
  static func ggufTensors(
    _ table: TensorTable, configuration c: LLMConfiguration, architecture arch: GGUFArchitecture,
    notes: inout [String]
  ) throws(GraftError) -> [(name: String, tensor: Tensor)] {
    var out: [String: Tensor] = [:]
    var experts: [String: [Int: (name: String, tensor: Tensor)]] = [:]
    func put(_ gguf: String, _ tensor: Tensor, from hf: String) throws(GraftError) {
      guard out[gguf] == nil else {
        throw GraftError(.duplicateKey, "maps to \(gguf), which another tensor already maps to", tensor: hf)
      }
      out[gguf] = tensor
    }
    for entry in table.entries {
      let name = entry.name
      if name.hasSuffix("rotary_emb.inv_freq") {
        notes.append("\(name) dropped: RoPE frequencies are computed from the key-values (as convert_hf_to_gguf.py)")
        continue
      }
      if let g = GGUFTensorNames.global.first(where: { $0.hf == name }) {
        try put(g.gguf, entry.tensor, from: name)
        continue
      }
      guard let (n, rest) = GGUFTensorNames.layerName(name), n < c.layerCount else {
        throw unmapped(name, c)
      }
      let block = "blk.\(n)."
      if let m = GGUFTensorNames.layer.first(where: { $0.hf == rest }) {
        var tensor = entry.tensor
        if arch.permutesQueryKey && (rest.hasPrefix("self_attn.q_proj.") || rest.hasPrefix("self_attn.k_proj.")) {
          let heads = rest.hasPrefix("self_attn.q_proj.") ? c.attentionHeads : c.keyValueHeads
          tensor = try LazyTensorViews.permutedHeads(tensor, heads: heads, toGGUF: true, name: name)
        }
        try put(block + m.gguf, tensor, from: name)
      } else if let (kind, e) = expertName(rest) {
        let key = block + kind
        guard experts[key, default: [:]][e] == nil else {
          throw GraftError(.duplicateKey, "expert \(e) of \(key) appears twice", tensor: name)
        }
        experts[key, default: [:]][e] = (name, entry.tensor)
      } else if rest.hasSuffix("experts.gate_up_proj") || rest.hasSuffix("experts.gate_up_proj.weight") {
        let t = entry.tensor
        guard t.shape.count == 3, t.shape[1] % 2 == 0 else {
          throw GraftError(
            .invalidModel, "fused experts.gate_up_proj must be [E, 2·I, H], not \(t.shape)", tensor: name)
        }
        let width = t.shape[1] / 2
        try put(block + "ffn_gate_exps.weight", LazyTensorViews.rows(t, 0..<width), from: name)
        try put(block + "ffn_up_exps.weight", LazyTensorViews.rows(t, width..<(2 * width)), from: name)
      } else if rest.hasSuffix("experts.down_proj") || rest.hasSuffix("experts.down_proj.weight") {
        try put(block + "ffn_down_exps.weight", entry.tensor, from: name)
      } else {
        throw unmapped(name, c)
      }
    }
    let expertCount = c.mixtureOfExperts?.expertCount ?? 0
    for (key, byIndex) in experts {
      let missing = (0..<expertCount).filter { byIndex[$0] == nil }
      guard missing.isEmpty, byIndex.count == expertCount else {
        throw GraftError(
          .invalidModel,
          "\(key) stacks \(expertCount) experts but expert(s) \(missing.map(String.init).joined(separator: ", ")) "
            + "are missing or extra ones are present (\(byIndex.count) found)", tensor: byIndex.values.first?.name)
      }
      let ordered = (0..<expertCount).compactMap { byIndex[$0] }
      try put(key, try LazyTensorViews.stacked(ordered), from: ordered[0].name)
    }
    if arch == .qwen2moe, out["output.weight"] == nil, let embedding = out["token_embd.weight"] {
      // llama.cpp's qwen2moe loader has no tied fallback.
      out["output.weight"] = embedding
      notes.append("output.weight written as a copy of token_embd.weight: llama.cpp's qwen2moe needs it (tied)")
    }
    if case .llama3 = c.rope.scaling {
      out["rope_freqs.weight"] = ropeFrequencyFactors(c)
    }
    try checkTensorSet(Set(out.keys), configuration: c, architecture: arch)
    return out.sorted { GGUFTensorNames.rank($0.key) < GGUFTensorNames.rank($1.key) }.map { ($0.key, $0.value) }
  }

  /// `(ffn_gate_exps.weight, e)` for `block_sparse_moe.experts.e.w1.weight` or `mlp.experts.e.gate_proj.weight`.
  static func expertName(_ rest: Substring) -> (String, Int)? {
    for prefix in ["block_sparse_moe.experts.", "mlp.experts."] where rest.hasPrefix(prefix) {
      let tail = rest.dropFirst(prefix.count)
      guard let dot = tail.firstIndex(of: "."), let e = Int(tail[..<dot]), e >= 0 else { return nil }
      let w = tail[tail.index(after: dot)...]
      for x in GGUFTensorNames.experts where w == x.mixtral + ".weight" || w == x.qwen + ".weight" {
        return (x.gguf, e)
      }
    }
    return nil
  }

  static func unmapped(_ name: String, _ c: LLMConfiguration) -> GraftError {
    GraftError(
      .invalidModel,
      "has no llama.cpp name for a \(c.family.rawValue) model with \(c.layerCount) layers; the converter maps the "
        + "transformers layout (model.embed_tokens, model.layers.N.…, model.norm, lm_head) and nothing is dropped "
        + "silently", tensor: name)
  }

  /// The tensors llama.cpp's loader creates for this configuration (`llama-model.cpp::load_tensors`).
  static func expectedTensors(_ c: LLMConfiguration, architecture arch: GGUFArchitecture) -> Set<String> {
    var names: Set<String> = ["token_embd.weight", "output_norm.weight"]
    if !c.tieWordEmbeddings || arch == .qwen2moe { names.insert("output.weight") }
    if case .llama3 = c.rope.scaling { names.insert("rope_freqs.weight") }
    for i in 0..<c.layerCount {
      let b = "blk.\(i)."
      var layer = ["attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm"].map { $0 + ".weight" }
      if c.qkvBias { layer += ["attn_q.bias", "attn_k.bias", "attn_v.bias"] }
      if c.outputBias { layer.append("attn_output.bias") }
      if c.queryKeyNorm { layer += ["attn_q_norm.weight", "attn_k_norm.weight"] }
      if c.isSparse(layer: i) {
        layer += ["ffn_gate_inp", "ffn_gate_exps", "ffn_up_exps", "ffn_down_exps"].map { $0 + ".weight" }
        if c.mixtureOfExperts?.sharedExpertIntermediateSize != nil {
          layer += ["ffn_gate_inp_shexp", "ffn_gate_shexp", "ffn_up_shexp", "ffn_down_shexp"].map { $0 + ".weight" }
        }
      } else {
        layer += ["ffn_gate.weight", "ffn_up.weight", "ffn_down.weight"]
        if c.mlpBias { layer += ["ffn_gate.bias", "ffn_up.bias", "ffn_down.bias"] }
      }
      names.formUnion(layer.map { b + $0 })
    }
    return names
  }

  static func checkTensorSet(
    _ present: Set<String>, configuration c: LLMConfiguration, architecture arch: GGUFArchitecture
  ) throws(GraftError) {
    let expected = expectedTensors(c, architecture: arch)
    let missing = expected.subtracting(present).sorted { GGUFTensorNames.rank($0) < GGUFTensorNames.rank($1) }
    let extra = present.subtracting(expected).sorted { GGUFTensorNames.rank($0) < GGUFTensorNames.rank($1) }
    guard missing.isEmpty && extra.isEmpty else {
      var parts: [String] = []
      if !missing.isEmpty { parts.append("missing " + missing.prefix(6).joined(separator: ", ")) }
      if !extra.isEmpty { parts.append("not expected " + extra.prefix(6).joined(separator: ", ")) }
      throw GraftError(
        .invalidModel,
        "the weights do not match config.json for llama.cpp's \(arch.rawValue) loader (it refuses any other tensor "
          + "set): " + parts.joined(separator: "; "), tensor: missing.first ?? extra.first)
    }
  }

  /// `rope_freqs.weight` for llama3 RoPE (`LlamaModel.generate_extra_tensors`).
  static func ropeFrequencyFactors(_ c: LLMConfiguration) -> Tensor {
    guard case .llama3(let factor, let low, let high, let original) = c.rope.scaling else {
      return Tensor(float32: [], shape: [0])
    }
    let factors = llama3Factors(
      theta: c.rope.theta, headDim: c.headDim, factor: factor, low: low, high: high, original: original)
    return Tensor(float32: factors, shape: [factors.count])
  }

  /// The llama3 per-frequency divisors of θ_i.
  ///
  /// 1 above the high band, `factor` below the low band, `1 / ((1 − s)/factor + s)` between. Frequencies in Float32, as the converter computes them.
  static func llama3Factors(
    theta: Double, headDim d: Int, factor: Double, low: Double, high: Double, original: Int
  ) -> [Float] {
    llama3Wavelengths(theta: theta, headDim: d).map { wavelength in
      if wavelength < Double(original) / high { return 1 }
      if wavelength > Double(original) / low { return Float(factor) }
      let smooth = (Double(original) / wavelength - low) / (high - low)
      return Float(1 / ((1 - smooth) / factor + smooth))
    }
  }

  /// `2π / freq_i` with `freq_i = 1 / θ^(2i/D)` in Float32.
  static func llama3Wavelengths(theta: Double, headDim d: Int) -> [Double] {
    stride(from: 0, to: d, by: 2).map { i in
      let freq = 1 / Float(Elementary.pow(theta, Double(Float(i) / Float(d))))
      return Double(2 * Float.pi / freq)
    }
  }

  /// The llama3 `rope_parameters` that reproduce a GGUF's `rope_freqs.weight`.
  ///
  /// GGUF keeps only the per-dimension factors, and several parameter sets give the same factors; Graft fixes
  /// `low_freq_factor` 1 and `high_freq_factor` 4 (every Llama 3.x release), takes `factor` as the largest value and
  /// solves `original_max_position_embeddings` from a dimension in the transition band (or, without one, takes the
  /// largest power of two the band boundaries allow), then checks that the parameters reproduce every stored factor.
  ///
  /// - Throws: `unsupported` naming `rope_freqs.weight` when no such parameters reproduce it.
  static func inferLlama3(
    _ tensor: Tensor, theta: Double, headDim: Int, file: String
  ) throws(GraftError) -> (parameters: JSONObject, note: String) {
    let name = "rope_freqs.weight"
    let stored: [Float]
    do {
      stored = try tensor.dequantized(to: .float32).readAllBytes().withUnsafeBytes {
        Array($0.bindMemory(to: Float.self))
      }
    } catch {
      throw GraftError(.invalidModel, "cannot be read as Float32 values", file: file, tensor: name)
    }
    let wavelengths = llama3Wavelengths(theta: theta, headDim: headDim)
    guard stored.count == wavelengths.count, let top = stored.max(), top > 1 else {
      throw GraftError(
        .unsupported,
        "expected \(wavelengths.count) factors above 1 somewhere for llama3 RoPE, found \(stored.count) "
          + "with maximum \(stored.max() ?? 0)", file: file, tensor: name)
    }
    let factor = Double(top)
    let (low, high) = (1.0, 4.0)
    let close = { (a: Float, b: Float) in abs(a - b) <= 1e-5 * max(1, abs(b)) }
    var candidates: [Double] = []
    for (r, w) in zip(stored, wavelengths) where !close(r, 1) && !close(r, Float(factor)) {
      let s = (1 / Double(r) - 1 / factor) / (1 - 1 / factor)
      candidates.append(w * (low + s * (high - low)))
    }
    var original: Int
    if !candidates.isEmpty {
      original = Int(candidates.sorted()[candidates.count / 2].rounded())
    } else {
      let lower = high * (zip(stored, wavelengths).filter { close($0.0, 1) }.map(\.1).max() ?? 0)
      let upper = low * (zip(stored, wavelengths).filter { !close($0.0, 1) }.map(\.1).min() ?? .infinity)
      original = 1
      while Double(original * 2) < upper && original < 1 << 40 { original *= 2 }
      if Double(original) <= lower { original = Int(lower) + 1 }
    }
    let rebuilt = llama3Factors(
      theta: theta, headDim: headDim, factor: factor, low: low, high: high, original: original)
    guard zip(rebuilt, stored).allSatisfy({ close($0, $1) }) else {
      throw GraftError(
        .unsupported,
        "no llama3 parameters with low_freq_factor 1 and high_freq_factor 4 reproduce these factors, so config.json's "
          + "rope_parameters cannot be rebuilt", file: file, tensor: name)
    }
    let parameters = JSONObject([
      ("factor", .double(factor)), ("low_freq_factor", .double(low)), ("high_freq_factor", .double(high)),
      ("original_max_position_embeddings", .integer(original)),
    ])
    return (
      parameters,
      "rope_freqs.weight → llama3 RoPE with factor \(factor), low/high_freq_factor 1/4 and "
        + "original_max_position_embeddings \(original), inferred: they reproduce every stored factor within 1e-5"
    )
  }
}
