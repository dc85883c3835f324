public import GraftCore

/// Multi-head self-attention with a packed input projection, as timm's `Attention` (`qkv`, `proj`) and PyTorch's
/// `nn.MultiheadAttention` (`in_proj_weight`, `out_proj`) lay it out: rows `[q; k; v]`, each `[width × width]`, heads
/// contiguous inside each.
public struct MultiHeadAttention: Sendable {
  /// The model width.
  public let width: Int
  /// The number of heads.
  public let heads: Int
  let qkv: Linear
  let proj: Linear
  let qNorm: Norm?
  let kNorm: Norm?
  /// The norm over the attention output before `proj` (timm `scale_attn_norm`, tensor `attn.norm`).
  let scaleNorm: Norm?

  /// The width of one head.
  public var headDim: Int { width / heads }

  /// Loads the attention under `prefix` in either layout.
  ///
  /// The norms (`q_norm`, `k_norm`, `norm`) are of `normKind` with epsilon `eps`.
  ///
  /// - Throws: `invalidModel` when `heads` does not divide `width`, or a tensor is missing or misshapen.
  public init(
    _ weights: WeightLoader, prefix: String, width: Int, heads: Int, eps: Float, normKind: NormKind = .layerNorm
  ) throws(GraftError) {
    guard heads > 0, width % heads == 0 else {
      throw GraftError(
        .invalidModel, "\(heads) heads do not divide the width \(width); pass the number of heads",
        tensor: weights.fullName(prefix + (weights.contains(prefix + "qkv.weight") ? "qkv.weight" : "in_proj_weight"))
      ).resolved(by: "heads")
    }
    self.width = width
    self.heads = heads
    if weights.contains(prefix + "qkv.weight") {
      qkv = try Linear(weights, prefix: prefix + "qkv.", inFeatures: width, outFeatures: 3 * width)
      proj = try Linear(weights, prefix: prefix + "proj.", inFeatures: width, outFeatures: width)
    } else if weights.contains(prefix + "in_proj_weight") {
      qkv = try Linear(
        weights, prefix: prefix, inFeatures: width, outFeatures: 3 * width, weightName: "in_proj_weight",
        biasName: "in_proj_bias")
      proj = try Linear(weights, prefix: prefix + "out_proj.", inFeatures: width, outFeatures: width)
    } else {
      throw GraftError(
        .invalidModel,
        "missing tensor; expected a packed projection [\(3 * width), \(width)] (timm 'qkv.weight' or "
          + "nn.MultiheadAttention 'in_proj_weight')", tensor: weights.fullName(prefix + "qkv.weight"))
    }
    let hd = width / heads
    func norm(_ name: String, _ n: Int) throws(GraftError) -> Norm? {
      weights.contains(prefix + name + ".weight")
        ? try Norm(weights, prefix: prefix + name + ".", width: n, kind: normKind, eps: eps) : nil
    }
    qNorm = try norm("q_norm", hd)
    kNorm = try norm("k_norm", hd)
    scaleNorm = try norm("norm", width)
  }

  /// Self-attention over a batch of sequences `[N, T, width]`.
  ///
  /// - Throws: `invalidArgument` when the input is not 3-D with last dimension ``width``.
  public func forward(_ x: FloatTensor) throws(GraftError) -> FloatTensor {
    guard x.shape.count == 3, x.shape[2] == width else {
      throw GraftError(.invalidArgument, "input of shape \(x.shape); expected [N, T, \(width)]")
    }
    let (n, t) = (x.shape[0], x.shape[1])
    let out = x.values.withUnsafeBufferPointer { xb in
      uninitializedFloats(n * t * width) { y in
        if let xp = xb.baseAddress { apply(xp, batch: n, tokens: t, into: y, accumulate: false) }
      }
    }
    return FloatTensor(unchecked: x.shape, values: out)
  }

  /// Attends over `batch` sequences of `tokens` rows in `x` (`[batch·tokens × width]`), writing the projected result
  /// into `y`, or adding it when `accumulate` (a fused residual).
  func apply(
    _ x: UnsafePointer<Float>, batch: Int, tokens: Int, into y: UnsafeMutablePointer<Float>, accumulate: Bool
  ) {
    let rows = batch * tokens
    let w = width
    let h = heads
    let hd = headDim
    var packedQKV = uninitializedFloats(rows * 3 * w) { qkv.apply(x, rows: rows, into: $0) }
    packedQKV.withUnsafeMutableBufferPointer { qkvBuffer in
      guard let qkvBase = qkvBuffer.baseAddress else { return }
      if let qNorm { qNorm.applyPerHead(qkvBase, tokens: rows, heads: h, rowStride: 3 * w) }
      if let kNorm { kNorm.applyPerHead(qkvBase + w, tokens: rows, heads: h, rowStride: 3 * w) }
      // Every head writes its own columns of every row, so the context needs no zeroing.
      var context = uninitializedFloats(rows * w) { _ in }
      context.withUnsafeMutableBufferPointer { ctxBuffer in
        guard let ctx = ctxBuffer.baseAddress else { return }
        let shared = AttentionOperands(qkv: SharedPointer(qkvBase), context: SharedPointer(ctx))
        let scale = 1 / Float(hd).squareRoot()
        let jobs = batch * h
        // One part per thread, each with one scores buffer for all of its (sequence, head) jobs; the GEMMs inside
        // overwrite their outputs, so nothing is zeroed.
        let parts = jobs > 1 && rows * tokens * w >= 1 << 18 ? min(WorkerPool.shared.threadCount, jobs) : 1
        let run: @Sendable (Int) -> Void = { part in
          GEMM.withScratch(tokens * tokens) { scores in
            var job = part
            while job < jobs {
              let b = job / h
              let head = job % h
              let base = shared.qkv.pointer + b * tokens * 3 * w + head * hd
              let q = MatrixOperand(base, rowStride: 3 * w)
              let kT = MatrixOperand(base + w, rowStride: 3 * w).transposed
              let v = MatrixOperand(base + 2 * w, rowStride: 3 * w)
              GEMM.multiply(
                m: tokens, n: tokens, k: hd, a: q, b: kT, c: scores, ldc: tokens, threads: 1, overwrite: true)
              RowKernels.softmaxInPlace(scores, rows: tokens, width: tokens, stride: tokens, scale: scale)
              GEMM.multiply(
                m: tokens, n: hd, k: tokens, a: MatrixOperand(scores, rowStride: tokens), b: v,
                c: shared.context.pointer + b * tokens * w + head * hd, ldc: w, threads: 1, overwrite: true)
              job += parts
            }
          }
        }
        WorkerPool.shared.run(parts: parts, run)
        scaleNorm?.apply(ctx, rows: rows, into: ctx)
        if accumulate {
          proj.accumulate(ctx, rows: rows, into: y)
        } else {
          proj.apply(ctx, rows: rows, into: y)
        }
      }
    }
  }
}

/// Buffers shared by the per-head attention jobs.
///
/// Invariant: `qkv` is only read; job (b, h) writes only columns `h·hd..<(h+1)·hd` of sequence b's rows of
/// `context`; the submitting call returns after all jobs finish.
struct AttentionOperands: @unchecked Sendable {
  // Invariant: job (b, h) writes only its own head columns of `context`; the caller outlives every job.
  let qkv: SharedPointer<Float>
  let context: SharedPointer<Float>
}
