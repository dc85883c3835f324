import GraftCore
import Synchronization

extension LLMSession {
  /// Query rows attended together: their key range is shared, so causal attention wastes at most one block's
  /// triangle of scores.
  static let queryBlock = 64

  /// Grouped-query attention with RoPE over the cache, adding `o_proj(context)` to `residual`.
  ///
  /// The GEMMs: one fused QKV projection over all rows, then per (sequence, KV head) and query block `q·Kᵀ` and
  /// `P·V` for all the query heads sharing that KV head at once, then the output projection over all rows.
  func attention(
    _ layer: DecoderLayer, index l: Int, input: UnsafeMutablePointer<Float>, tokens t: Int,
    cos: UnsafePointer<Float>, sin: UnsafePointer<Float>, residual: UnsafeMutablePointer<Float>
  ) {
    let c = model.configuration
    let n = batch * t
    let d = c.headDim
    let heads = c.attentionHeads
    let kvHeads = c.keyValueHeads
    let width = (heads + 2 * kvHeads) * d
    let eps = Float(c.rmsNormEpsilon)
    let qkv = scratch.qkv.reserve(n * width)
    layer.qkv.apply(input, rows: n, into: qkv)
    if let w = layer.queryNorm {
      LLMKernels.rmsNormHeads(qkv, rows: n, rowStride: width, heads: heads, headDim: d, weight: w, eps: eps)
    }
    if let w = layer.keyNorm {
      LLMKernels.rmsNormHeads(
        qkv + heads * d, rows: n, rowStride: width, heads: kvHeads, headDim: d, weight: w, eps: eps)
    }
    let half = d / 2
    for r in 0..<n {
      let i = r % t
      RotaryEmbedding.rotate(qkv + r * width, heads: heads, headDim: d, cos: cos + i * half, sin: sin + i * half)
      RotaryEmbedding.rotate(
        qkv + r * width + heads * d, heads: kvHeads, headDim: d, cos: cos + i * half, sin: sin + i * half)
    }
    let keyCache = keys[l]
    let valueCache = values[l]
    for b in 0..<batch {
      for i in 0..<t {
        let row = qkv + (b * t + i) * width
        for g in 0..<kvHeads {
          let slot = ((b * kvHeads + g) * capacity + length + i) * d
          (keyCache + slot).update(from: row + (heads + g) * d, count: d)
          (valueCache + slot).update(from: row + (heads + kvHeads + g) * d, count: d)
        }
      }
    }
    // Every query head's columns of every row are written by exactly one job, so the context needs no zeroing.
    let context = scratch.context.reserve(n * heads * d)
    let total = length + t
    let block = min(t, Self.queryBlock)
    let blocks = (t + block - 1) / block
    let group = heads / kvHeads
    let jobs = batch * kvHeads * blocks
    let parts = jobs > 1 && t * total * heads * d >= 1 << 16 ? min(WorkerPool.shared.threadCount, jobs) : 1
    let partScratch = group * block * (total + 2 * d)
    let job = AttentionJob(
      qkv: qkv, keys: keyCache, values: valueCache, context: context,
      scratch: scratch.scores.reserve(parts * partScratch), scratchPerPart: partScratch, tokens: t, past: length,
      batch: batch, heads: heads, kvHeads: kvHeads, headDim: d, capacity: capacity, block: block, window: layer.window,
      scale: 1 / Float(d).squareRoot(), jobs: jobs, next: JobCounter())
    WorkerPool.shared.run(parts: parts) { job.runPart($0) }
    layer.output.accumulate(context, rows: n, into: residual)
  }

  /// A sparse MoE block over `rows` normalised rows, adding its output to `residual`.
  ///
  /// Routing as transformers: softmax over all experts in Float32, top-k, renormalised when configured; expert
  /// outputs are weighted and summed per token in ascending expert order (the order of `index_add_`), then the
  /// Qwen2-MoE shared expert `σ(x·w_g) · f_shared(x)` is added.
  func mixtureOfExperts(
    _ moe: SparseMoE, input x: UnsafeMutablePointer<Float>, rows n: Int, residual: UnsafeMutablePointer<Float>
  ) {
    let c = model.configuration
    let h = c.hiddenSize
    let e = moe.experts.count
    let k = moe.topK
    let logits = scratch.routerLogits.reserve(n * e)
    moe.router.apply(x, rows: n, into: logits)
    let weights = scratch.routeWeights.reserve(n * k)
    let chosen = scratch.routeExperts.reserve(n * k)
    for r in 0..<n {
      Self.route(
        logits + r * e, experts: e, topK: k, normalize: moe.normalizeTopK, weights: weights + r * k,
        chosen: chosen + r * k)
    }
    let out = scratch.moeOutput.reserve(n * h)
    out.update(repeating: 0, count: n * h)
    let members = scratch.expertRows.reserve(n)
    let memberWeights = scratch.expertWeights.reserve(n)
    let gathered = scratch.expertInput.reserve(n * h)
    for expert in 0..<e {
      var m = 0
      for r in 0..<n {
        for j in 0..<k where chosen[r * k + j] == expert {
          members[m] = r
          memberWeights[m] = weights[r * k + j]
          m += 1
        }
      }
      if m == 0 { continue }
      for i in 0..<m { (gathered + i * h).update(from: x + members[i] * h, count: h) }
      let result = runGatedMLP(moe.experts[expert], input: gathered, rows: m)
      for i in 0..<m { LLMKernels.addScaled(out + members[i] * h, result + i * h, scale: memberWeights[i], count: h) }
    }
    if let shared = moe.shared, let gate = moe.sharedGate {
      let result = runGatedMLP(shared, input: x, rows: n)
      let gateLogits = scratch.expertWeights.reserve(n)
      gate.apply(x, rows: n, into: gateLogits)
      for r in 0..<n {
        LLMKernels.addScaled(out + r * h, result + r * h, scale: Elementary.sigmoid(gateLogits[r]), count: h)
      }
    }
    RowKernels.addInPlace(residual, out, count: n * h)
  }

  /// `down(act(gate(x)) ⊙ up(x))` for `rows` rows, into the expert output scratch.
  private func runGatedMLP(_ mlp: DecoderMLP, input: UnsafePointer<Float>, rows m: Int) -> UnsafeMutablePointer<Float> {
    let gateUp = scratch.gateUp.reserve(m * 2 * mlp.width)
    let act = scratch.activation.reserve(m * mlp.width)
    let result = scratch.expertOutput.reserve(m * model.configuration.hiddenSize)
    mlp.gateUp.apply(input, rows: m, into: gateUp)
    LLMKernels.gatedActivation(gateUp, rows: m, width: mlp.width, into: act, activation: model.configuration.activation)
    mlp.down.apply(act, rows: m, into: result)
    return result
  }

  /// Softmax over `experts` logits (in place), the `topK` largest probabilities (lowest index first on ties),
  /// renormalised when asked.
  static func route(
    _ probabilities: UnsafeMutablePointer<Float>, experts e: Int, topK k: Int, normalize: Bool,
    weights: UnsafeMutablePointer<Float>, chosen: UnsafeMutablePointer<Int>
  ) {
    var peak = -Float.infinity
    for j in 0..<e { peak = max(peak, probabilities[j]) }
    var sum: Float = 0
    for j in 0..<e {
      probabilities[j] = Elementary.exp(probabilities[j] - peak)
      sum += probabilities[j]
    }
    for j in 0..<e { probabilities[j] /= sum }
    var total: Float = 0
    for slot in 0..<k {
      var best = -1
      for j in 0..<e where best < 0 || probabilities[j] > probabilities[best] {
        if (0..<slot).contains(where: { chosen[$0] == j }) { continue }
        best = j
      }
      chosen[slot] = best
      weights[slot] = probabilities[best]
      total += probabilities[best]
    }
    if normalize { for slot in 0..<k { weights[slot] /= total } }
  }
}

/// Hands out job indices to pool parts, so jobs of unequal cost balance across threads.
final class JobCounter: Sendable {
  private let next = Atomic<Int>(0)

  /// The next unclaimed job index (growing without bound once all are claimed).
  func claim() -> Int { next.add(1, ordering: .relaxed).oldValue }
}

/// The attention jobs of one layer: one per (sequence, KV head, query block), so the query heads that share a KV
/// head (grouped-query attention) run as one GEMM against one packing of their keys and values.
///
/// Invariant: job (b, g, block) writes only its part's scratch and the columns of the query heads of group g in the
/// block's context rows; `qkv` and the caches are only read; the submitting call returns after every job has finished.
struct AttentionJob: @unchecked Sendable {
  // Invariant: see above; the memory belongs to the session, which outlives the call.
  let qkv: UnsafeMutablePointer<Float>
  let keys: UnsafeMutablePointer<Float>
  let values: UnsafeMutablePointer<Float>
  let context: UnsafeMutablePointer<Float>
  let scratch: UnsafeMutablePointer<Float>
  let scratchPerPart: Int
  let tokens: Int
  let past: Int
  let batch: Int
  let heads: Int
  let kvHeads: Int
  let headDim: Int
  let capacity: Int
  let block: Int
  let window: Int?
  let scale: Float
  let jobs: Int
  let next: JobCounter

  /// Claims and runs jobs until none is left, the longest (last query blocks, most keys) first.
  func runPart(_ part: Int) {
    let blocks = (tokens + block - 1) / block
    let work = scratch + part * scratchPerPart
    while true {
      let j = next.claim()
      guard j < jobs else { return }
      let index = blocks - 1 - j / (batch * kvHeads)
      let rest = j % (batch * kvHeads)
      run(sequence: rest / kvHeads, group: rest % kvHeads, t0: index * block, scratch: work)
    }
  }

  /// Causal (and sliding-window) softmax attention of the query heads of KV head `g` (`repeat_kv`: query head h reads
  /// KV head h / (heads / kvHeads)) for the query rows `t0..<t0+block` of sequence `b`.
  func run(sequence b: Int, group g: Int, t0: Int, scratch: UnsafeMutablePointer<Float>) {
    let d = headDim
    let group = heads / kvHeads
    let width = (heads + 2 * kvHeads) * d
    let contextWidth = heads * d
    let rows = min(block, tokens - t0)
    let m = group * rows
    let lo = window.map { max(0, past + t0 - $0 + 1) } ?? 0
    let count = past + t0 + rows - lo
    let keyBase = keys + (b * kvHeads + g) * capacity * d
    let valueBase = values + (b * kvHeads + g) * capacity * d
    // Rows of q, scores and output are (head j of the group, query i), head-major.
    let q = scratch
    let s = q + group * block * d
    let out = s + group * block * (past + tokens)
    for j in 0..<group {
      for i in 0..<rows {
        (q + (j * rows + i) * d).update(from: qkv + (b * tokens + t0 + i) * width + (g * group + j) * d, count: d)
      }
    }
    GEMM.multiply(
      m: m, n: count, k: d, a: MatrixOperand(q, rowStride: d),
      b: MatrixOperand(keyBase + lo * d, rowStride: d).transposed, c: s, ldc: count, threads: 1, overwrite: true)
    for r in 0..<m {
      let position = past + t0 + r % rows
      let first = (window.map { max(0, position - $0 + 1) } ?? 0) - lo
      let last = position - lo
      let row = s + r * count
      RowKernels.softmaxInPlace(row + first, rows: 1, width: last - first + 1, stride: count, scale: scale)
      if first > 0 { row.update(repeating: 0, count: first) }
      if last + 1 < count { (row + last + 1).update(repeating: 0, count: count - last - 1) }
    }
    GEMM.multiply(
      m: m, n: d, k: count, a: MatrixOperand(s, rowStride: count), b: MatrixOperand(valueBase + lo * d, rowStride: d),
      c: out, ldc: d, threads: 1, overwrite: true)
    for j in 0..<group {
      for i in 0..<rows {
        (context + (b * tokens + t0 + i) * contextWidth + (g * group + j) * d).update(
          from: out + (j * rows + i) * d, count: d)
      }
    }
  }
}
