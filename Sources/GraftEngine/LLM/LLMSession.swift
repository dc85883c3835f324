public import GraftCore

/// A KV cache and scratch buffers for running a ``CausalLM`` incrementally over a batch of sequences.
///
/// Each ``append(_:allLogits:hiddenStates:)`` call feeds the next tokens of every sequence (all sequences advance
/// together), attends over everything cached so far, and caches the new keys and values. Buffers grow when needed
/// and are reused afterwards, so decoding one token at a time allocates nothing per token once the cache has room.
public final class LLMSession {
  /// The model.
  public let model: CausalLM
  /// The number of sequences.
  public let batch: Int
  /// The number of positions cached per sequence.
  public private(set) var length = 0

  var capacity: Int
  /// Per layer: keys and values `[batch][kvHeads][capacity][headDim]`, after q/k norm and RoPE.
  var keys: [UnsafeMutablePointer<Float>] = []
  var values: [UnsafeMutablePointer<Float>] = []
  let scratch = SessionScratch()

  init(model: CausalLM, batch: Int, capacity: Int) {
    self.model = model
    self.batch = batch
    self.capacity = max(capacity, 1)
    let count = cacheCount(self.capacity)
    for _ in model.layers {
      keys.append(.allocate(capacity: count))
      values.append(.allocate(capacity: count))
    }
  }

  deinit {
    for p in keys { p.deallocate() }
    for p in values { p.deallocate() }
  }

  private func cacheCount(_ positions: Int) -> Int {
    max(1, batch * model.configuration.keyValueHeads * positions * model.configuration.headDim)
  }

  /// Forgets every cached position (buffers are kept).
  public func reset() { length = 0 }

  /// Feeds the next tokens of every sequence and returns the logits of every new position (`allLogits`) or of the
  /// last one, and the layer outputs when asked.
  ///
  /// - Throws: `invalidArgument` when the batch size differs from the session's, sequences have different lengths
  ///   or are empty, or a token id is outside the vocabulary.
  public func append(
    _ tokens: [[Int32]], allLogits: Bool, hiddenStates: Bool = false
  ) throws(GraftError)
    -> CausalLM.Output
  {
    let t = try validate(tokens)
    var hidden: [FloatTensor] = []
    run(tokens, tokens: t, collecting: hiddenStates, into: &hidden)
    let c = model.configuration
    let rows = allLogits ? batch * t : batch
    let logits = scratch.logits.reserve(rows * c.vocabularySize)
    computeLogits(tokens: t, allRows: allLogits, into: logits)
    let values = Array(UnsafeBufferPointer(start: logits, count: rows * c.vocabularySize))
    return CausalLM.Output(
      logits: FloatTensor(unchecked: [batch, allLogits ? t : 1, c.vocabularySize], values: values),
      hiddenStates: hidden)
  }

  /// Feeds tokens and returns each sequence's argmax next token, without materialising the logits.
  func appendGreedy(_ tokens: [[Int32]]) throws(GraftError) -> [Int32] {
    let t = try validate(tokens)
    var unused: [FloatTensor] = []
    run(tokens, tokens: t, collecting: false, into: &unused)
    let v = model.configuration.vocabularySize
    let logits = scratch.logits.reserve(batch * v)
    computeLogits(tokens: t, allRows: false, into: logits)
    return (0..<batch).map { Int32(LLMKernels.argmax(logits + $0 * v, count: v)) }
  }

  private func validate(_ tokens: [[Int32]]) throws(GraftError) -> Int {
    guard tokens.count == batch, batch > 0 else {
      throw GraftError(
        .invalidArgument, "got \(tokens.count) sequences; the session runs a batch of \(batch) (at least one)")
    }
    let t = tokens[0].count
    guard t > 0, tokens.allSatisfy({ $0.count == t }) else {
      throw GraftError(
        .invalidArgument,
        "sequences have lengths \(tokens.map(\.count)); they must be non-empty and of equal length (no padding)")
    }
    let v = model.configuration.vocabularySize
    for (b, row) in tokens.enumerated() {
      if let i = row.firstIndex(where: { $0 < 0 || Int($0) >= v }) {
        throw GraftError(
          .invalidArgument, "token id \(row[i]) at sequence \(b), position \(i) is outside the vocabulary 0..<\(v)")
      }
    }
    guard let total = Checked.add(length, t), total <= ConfigReader.maximumDimension else {
      throw GraftError(.limitExceeded, "the sequence would exceed \(ConfigReader.maximumDimension) positions")
    }
    return t
  }

  /// Grows the KV cache to hold `positions`, keeping what is cached.
  private func reserve(positions: Int) {
    guard positions > capacity else { return }
    let newCapacity = max(positions, capacity * 2)
    let c = model.configuration
    let blocks = batch * c.keyValueHeads
    let d = c.headDim
    for l in 0..<keys.count {
      for cache in [\LLMSession.keys, \LLMSession.values] {
        let old = self[keyPath: cache][l]
        let new = UnsafeMutablePointer<Float>.allocate(capacity: cacheCount(newCapacity))
        for blk in 0..<blocks where length > 0 {
          (new + blk * newCapacity * d).update(from: old + blk * capacity * d, count: length * d)
        }
        old.deallocate()
        self[keyPath: cache][l] = new
      }
    }
    capacity = newCapacity
  }

  /// Embeds the tokens and runs every layer, leaving the last hidden state in `scratch.hidden`.
  private func run(_ tokens: [[Int32]], tokens t: Int, collecting: Bool, into hiddenStates: inout [FloatTensor]) {
    let c = model.configuration
    let h = c.hiddenSize
    let n = batch * t
    reserve(positions: length + t)
    let hidden = scratch.hidden.reserve(n * h)
    model.embedding.withUnsafeBufferPointer { e in
      guard let base = e.baseAddress else { return }
      for (b, row) in tokens.enumerated() {
        for (i, id) in row.enumerated() { (hidden + (b * t + i) * h).update(from: base + Int(id) * h, count: h) }
      }
    }
    let half = c.headDim / 2
    let cos = scratch.cos.reserve(t * half)
    let sin = scratch.sin.reserve(t * half)
    model.rope.table(start: length, count: t, sequenceLength: length + t, cos: cos, sin: sin)
    for (l, layer) in model.layers.enumerated() {
      runLayer(layer, index: l, tokens: t, hidden: hidden, cos: cos, sin: sin)
      if collecting {
        let values = Array(UnsafeBufferPointer(start: hidden, count: n * h))
        hiddenStates.append(FloatTensor(unchecked: [batch, t, h], values: values))
      }
    }
    length += t
  }

  /// One decoder layer over `batch × tokens` rows of `hidden`, in place.
  private func runLayer(
    _ layer: DecoderLayer, index l: Int, tokens t: Int, hidden: UnsafeMutablePointer<Float>,
    cos: UnsafePointer<Float>, sin: UnsafePointer<Float>
  ) {
    let c = model.configuration
    let n = batch * t
    let h = c.hiddenSize
    let eps = Float(c.rmsNormEpsilon)
    let normed = scratch.normed.reserve(n * h)
    LLMKernels.rmsNorm(hidden, normed, rows: n, width: h, weight: layer.inputNorm, eps: eps)
    attention(layer, index: l, input: normed, tokens: t, cos: cos, sin: sin, residual: hidden)
    LLMKernels.rmsNorm(hidden, normed, rows: n, width: h, weight: layer.postNorm, eps: eps)
    switch layer.feedForward {
    case .dense(let mlp):
      let gateUp = scratch.gateUp.reserve(n * 2 * mlp.width)
      let act = scratch.activation.reserve(n * mlp.width)
      mlp.gateUp.apply(normed, rows: n, into: gateUp)
      LLMKernels.gatedActivation(gateUp, rows: n, width: mlp.width, into: act, activation: c.activation)
      mlp.down.accumulate(act, rows: n, into: hidden)
    case .sparse(let moe):
      mixtureOfExperts(moe, input: normed, rows: n, residual: hidden)
    }
  }

  /// The final norm and the head, for every row or for the last position of each sequence.
  private func computeLogits(tokens t: Int, allRows: Bool, into logits: UnsafeMutablePointer<Float>) {
    let c = model.configuration
    let h = c.hiddenSize
    let rows = allRows ? batch * t : batch
    let hidden = scratch.hidden.reserve(batch * t * h)
    let normed = scratch.normed.reserve(batch * t * h)
    if allRows {
      normed.update(from: hidden, count: rows * h)
    } else {
      for b in 0..<batch { (normed + b * h).update(from: hidden + (b * t + t - 1) * h, count: h) }
    }
    LLMKernels.rmsNorm(normed, normed, rows: rows, width: h, weight: model.finalNorm, eps: Float(c.rmsNormEpsilon))
    model.head.apply(normed, rows: rows, into: logits)
  }
}

/// Growable scratch buffers of a session, reused across calls.
final class SessionScratch {
  let hidden = ScratchBuffer<Float>()
  let normed = ScratchBuffer<Float>()
  let qkv = ScratchBuffer<Float>()
  let context = ScratchBuffer<Float>()
  let scores = ScratchBuffer<Float>()
  let gateUp = ScratchBuffer<Float>()
  let activation = ScratchBuffer<Float>()
  let cos = ScratchBuffer<Float>()
  let sin = ScratchBuffer<Float>()
  let logits = ScratchBuffer<Float>()
  let moeOutput = ScratchBuffer<Float>()
  let expertInput = ScratchBuffer<Float>()
  let expertOutput = ScratchBuffer<Float>()
  let routerLogits = ScratchBuffer<Float>()
  let routeWeights = ScratchBuffer<Float>()
  let routeExperts = ScratchBuffer<Int>()
  let expertRows = ScratchBuffer<Int>()
  let expertWeights = ScratchBuffer<Float>()
}

/// A buffer that grows (without keeping its contents) and is never shrunk.
final class ScratchBuffer<Element> {
  private var pointer: UnsafeMutablePointer<Element>
  private var capacity = 1

  init() { pointer = .allocate(capacity: 1) }
  deinit { pointer.deallocate() }

  /// Room for at least `count` elements (uninitialised for new room; contents are not kept on growth).
  func reserve(_ count: Int) -> UnsafeMutablePointer<Element> {
    if count > capacity {
      pointer.deallocate()
      capacity = max(count, capacity + capacity / 2)
      pointer = .allocate(capacity: capacity)
    }
    return pointer
  }
}
