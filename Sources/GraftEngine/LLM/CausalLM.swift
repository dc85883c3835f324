public import GraftCore

/// A decoder-only language model (`*ForCausalLM` of Llama, Mistral, Qwen2, Qwen3, Mixtral, Qwen2-MoE, Qwen3-MoE)
/// built from a tensor table and a parsed configuration, computing what transformers computes in float32.
///
/// Weights (F32, F16 or BF16) are converted to Float32 and packed once at build. Every tensor of the table must be
/// used: unused tensors are an error listing them, unless ``BuildOptions/allowUnusedTensors`` (they are then listed
/// in ``ignoredTensors``).
///
///     let model = try CausalLM(configuration: LLMConfiguration(json: config), weights: table)
///     let out = try model.forward(tokens: [[1, 2, 3]])        // logits [1, 3, vocab]
///     let next = try model.generate(prompts: [[1, 2, 3]], steps: 8)
public struct CausalLM: Sendable {
  /// How a model is built.
  public struct BuildOptions: Sendable {
    /// Build even when the table holds tensors the model does not use (listed in ``CausalLM/ignoredTensors``).
    public var allowUnusedTensors = false
    /// Creates default options.
    public init() {}
  }

  /// The configuration the model was built with.
  public let configuration: LLMConfiguration
  /// Tensors of the table the model did not use (empty unless ``BuildOptions/allowUnusedTensors``).
  public let ignoredTensors: [String]
  /// Facts about the weights worth reporting (expert layout, tied head).
  public let notes: [String]

  let embedding: [Float]
  let layers: [DecoderLayer]
  let finalNorm: [Float]
  let head: Linear
  let rope: RotaryEmbedding

  /// Builds the model from a table in the Hugging Face key layout (`model.embed_tokens.weight`, `model.layers.N.…`,
  /// `model.norm.weight`, `lm_head.weight`).
  ///
  /// - Throws: `invalidModel` naming the tensor when one is missing, misshapen, not floating point or not finite,
  ///   when `lm_head.weight` contradicts `tie_word_embeddings`, or when tensors are left unused.
  public init(
    configuration c: LLMConfiguration, weights table: TensorTable, options: BuildOptions = BuildOptions()
  ) throws(GraftError) {
    let w = ConsumingWeightReader(table: table)
    let v = c.vocabularySize
    let h = c.hiddenSize
    embedding = try w.floats("model.embed_tokens.weight", shape: [v, h])
    var layers: [DecoderLayer] = []
    for i in 0..<c.layerCount { layers.append(try DecoderLayer(w, index: i, configuration: c)) }
    self.layers = layers
    finalNorm = try w.floats("model.norm.weight", shape: [h])
    var notes: [String] = []
    if c.tieWordEmbeddings {
      if w.contains("lm_head.weight") {
        guard try w.floats("lm_head.weight", shape: [v, h]) == embedding else {
          throw w.located(
            GraftError(
              .invalidModel,
              "config.json tie_word_embeddings is true, but lm_head.weight differs from model.embed_tokens.weight; "
                + "set tie_word_embeddings to false to use it", tensor: "lm_head.weight"))
        }
        notes.append("lm_head.weight is stored and equals model.embed_tokens.weight (tie_word_embeddings)")
      } else {
        notes.append("the head reuses model.embed_tokens.weight (tie_word_embeddings)")
      }
      head = Linear(weight: embedding, bias: nil, outFeatures: v, inFeatures: h)
    } else {
      head = Linear(
        weight: try w.required("lm_head.weight", shape: [v, h], because: "tie_word_embeddings false"), bias: nil,
        outFeatures: v, inFeatures: h)
    }
    for layer in layers {
      if case .sparse(let moe) = layer.feedForward, !notes.contains("experts: " + moe.layout) {
        notes.append("experts: " + moe.layout)
      }
    }
    let unused = table.names.filter { !w.used.contains($0) }
    if !unused.isEmpty && !options.allowUnusedTensors {
      let shown = unused.prefix(10).joined(separator: ", ") + (unused.count > 10 ? ", …" : "")
      throw w.located(
        GraftError(
          .invalidModel,
          "\(unused.count) tensor(s) are not used by a \(c.family.rawValue) model with this config.json: \(shown); "
            + "allow unused tensors to ignore them", tensor: unused[0])
      ).resolved(by: "allowUnusedTensors")
    }
    ignoredTensors = unused
    self.configuration = c
    self.notes = notes
    rope = RotaryEmbedding(configuration: c)
  }

  /// The result of a forward pass.
  public struct Output: Sendable {
    /// Logits `[batch, tokens, vocab]` (or `[batch, 1, vocab]` for the last position only).
    public var logits: FloatTensor
    /// When asked, the output of every decoder layer `[batch, tokens, hidden]` (before the final norm).
    public var hiddenStates: [FloatTensor]
  }

  /// Runs equal-length token sequences through the model with causal attention.
  ///
  /// - Throws: `invalidArgument` for an empty batch, ragged sequences or a token id outside the vocabulary.
  public func forward(tokens: [[Int32]], hiddenStates: Bool = false) throws(GraftError) -> Output {
    let session = LLMSession(model: self, batch: tokens.count, capacity: tokens.first?.count ?? 0)
    return try session.append(tokens, allLogits: true, hiddenStates: hiddenStates)
  }

  /// Greedy decoding with a KV cache: each sequence's `steps` next tokens (argmax, first index on ties).
  ///
  /// Gives the tokens that recomputing the whole prefix at every step gives, except that dynamic NTK RoPE past
  /// `max_position_embeddings` keeps each cached key's frequencies, exactly as transformers' `generate` does.
  public func generate(prompts: [[Int32]], steps: Int) throws(GraftError) -> [[Int32]] {
    guard steps > 0 else { return try noTokens(prompts.count, steps: steps) }
    let session = LLMSession(model: self, batch: prompts.count, capacity: (prompts.first?.count ?? 0) + steps)
    return try decode(session, first: session.appendGreedy(prompts), steps: steps)
  }

  /// Continues `session` greedily for `steps` tokens after `output`, what its last ``LLMSession/append(_:allLogits:hiddenStates:)``
  /// returned: a prompt whose logits were wanted is computed once, not again by ``generate(prompts:steps:)``.
  public func generate(
    continuing session: LLMSession, after output: Output, steps: Int
  ) throws(GraftError)
    -> [[Int32]]
  {
    guard steps > 0 else { return try noTokens(session.batch, steps: steps) }
    let v = configuration.vocabularySize
    let positions = output.logits.shape.count == 3 ? output.logits.shape[1] : 1
    let logits = output.logits.values
    let first = (0..<session.batch).map { b -> Int32 in
      let start = (b * positions + positions - 1) * v
      var best = start  // the first index on ties, as in LLMKernels.argmax
      for j in start..<(start + v) where logits[j] > logits[best] { best = j }
      return Int32(best - start)
    }
    return try decode(session, first: first, steps: steps)
  }

  private func noTokens(_ batch: Int, steps: Int) throws(GraftError) -> [[Int32]] {
    guard steps == 0 else { throw GraftError(.invalidArgument, "the number of steps is \(steps); expected ≥ 0") }
    return Array(repeating: [], count: batch)
  }

  private func decode(_ session: LLMSession, first: [Int32], steps: Int) throws(GraftError) -> [[Int32]] {
    var out = Array(repeating: [Int32](), count: first.count)
    var next = first
    for step in 0..<steps {
      for b in 0..<next.count { out[b].append(next[b]) }
      if step + 1 < steps { next = try session.appendGreedy(next.map { [$0] }) }
    }
    return out
  }

  /// The embedding rows of `tokens`, `[B·T × hidden]` (the input of decoder layer 0).
  ///
  /// - Throws: `invalidArgument` for a token id outside the vocabulary.
  public func embed(_ tokens: [[Int32]]) throws(GraftError) -> [Float] {
    let h = configuration.hiddenSize
    var out: [Float] = []
    out.reserveCapacity(tokens.count * (tokens.first?.count ?? 0) * h)
    for id in tokens.joined() {
      guard id >= 0, Int(id) < configuration.vocabularySize else {
        throw GraftError(
          .invalidArgument, "token id \(id) is outside the vocabulary 0..<\(configuration.vocabularySize)")
      }
      out += embedding[(Int(id) * h)..<((Int(id) + 1) * h)]
    }
    return out
  }

  /// A KV-cache session for incremental decoding of `batch` sequences, with room for `capacity` positions (it
  /// grows when exceeded).
  public func makeSession(batch: Int, capacity: Int) -> LLMSession {
    LLMSession(model: self, batch: batch, capacity: capacity)
  }
}
