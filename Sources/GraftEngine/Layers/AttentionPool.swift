public import GraftCore

/// timm's `AttentionPoolLatent` (`global_pool='map'`): learned latent queries attend over the tokens, then
/// `x + mlp(norm(x))`; the first latent is the pooled vector.
public struct AttentionPool: Sendable {
  /// The token width.
  public let width: Int
  /// The number of heads (the model's).
  public let heads: Int
  /// The number of latent queries.
  public let latentCount: Int
  let queries: [Float]
  let kv: Linear
  let kNorm: Norm?
  let positions: [Float]?
  let proj: Linear?
  let norm: Norm?
  let mlp: DenseMLP?

  /// Loads `<prefix>latent`, `q`, `kv`, `proj`, `norm`, `mlp` (and `q_norm`, `k_norm`, `pos_embed` when present).
  ///
  /// The latent queries do not depend on the input, so their projection (and `q_norm`) is computed here, once.
  ///
  /// - Throws: `invalidModel` for missing or misshapen tensors, or heads that do not divide the width.
  public init(
    _ weights: WeightLoader, prefix: String, width: Int, heads: Int, normKind: NormKind, eps: Float,
    activation: Activation
  ) throws(GraftError) {
    guard heads > 0, width % heads == 0 else {
      throw GraftError(
        .invalidModel, "\(heads) heads do not divide the width \(width); pass the number of heads",
        tensor: weights.fullName(prefix + "kv.weight")
      ).resolved(by: "heads")
    }
    let latentShape = try weights.requireShape(prefix + "latent", expecting: "[1, latent_len, latent_dim]")
    guard latentShape.count == 3, latentShape[0] == 1, latentShape[1] > 0, latentShape[2] > 0 else {
      throw GraftError(
        .invalidModel, "has shape \(latentShape); expected [1, latent_len, latent_dim]",
        tensor: weights.fullName(prefix + "latent"))
    }
    self.width = width
    self.heads = heads
    latentCount = latentShape[1]
    let latent = try weights.floats(prefix + "latent", shape: latentShape)
    var q = latent
    if weights.contains(prefix + "q.weight") {
      let projection = try Linear(weights, prefix: prefix + "q.", inFeatures: latentShape[2], outFeatures: width)
      q = try projection.forward(FloatTensor(shape: [latentCount, latentShape[2]], values: latent)).values
    } else if latentShape[2] != width {
      throw GraftError(
        .invalidModel, "has width \(latentShape[2]) and there is no 'q' projection; expected width \(width)",
        tensor: weights.fullName(prefix + "latent"))
    }
    let hd = width / heads
    if weights.contains(prefix + "q_norm.weight") {
      let qNorm = try Norm(weights, prefix: prefix + "q_norm.", width: hd, kind: normKind, eps: eps)
      let rows = latentShape[1] * heads
      q.withUnsafeMutableBufferPointer { p in
        if let base = p.baseAddress { qNorm.apply(base, rows: rows, into: base) }
      }
    }
    queries = q
    kNorm =
      weights.contains(prefix + "k_norm.weight")
      ? try Norm(weights, prefix: prefix + "k_norm.", width: hd, kind: normKind, eps: eps) : nil
    kv = try Linear(weights, prefix: prefix + "kv.", inFeatures: width, outFeatures: 2 * width)
    positions = try weights.contains(prefix + "pos_embed") ? Self.positionTable(weights, prefix, width) : nil
    proj =
      weights.contains(prefix + "proj.weight")
      ? try Linear(weights, prefix: prefix + "proj.", inFeatures: width, outFeatures: width) : nil
    norm =
      weights.contains(prefix + "norm.weight")
      ? try Norm(weights, prefix: prefix + "norm.", width: width, kind: normKind, eps: eps) : nil
    if weights.contains(prefix + "mlp.fc1.weight") {
      let fc1 = try Linear(weights, prefix: prefix + "mlp.fc1.", inFeatures: width, outFeatures: nil)
      let fc2 = try Linear(weights, prefix: prefix + "mlp.fc2.", inFeatures: fc1.outFeatures, outFeatures: width)
      mlp = DenseMLP(fc1: fc1, fc2: fc2, activation: activation)
    } else {
      mlp = nil
    }
  }

  private static func positionTable(
    _ weights: WeightLoader, _ prefix: String, _ width: Int
  ) throws(GraftError)
    -> [Float]
  {
    let shape = try weights.requireShape(prefix + "pos_embed", expecting: "[tokens, \(width)]")
    guard shape.count == 2, shape[1] == width else {
      throw GraftError(
        .invalidModel, "has shape \(shape); expected [tokens, \(width)]", tensor: weights.fullName(prefix + "pos_embed")
      )
    }
    return try weights.floats(prefix + "pos_embed", shape: shape)
  }

  /// The number of tokens a `pos_embed` of the pool expects, if it has one.
  public var positionCount: Int? { positions.map { $0.count / max(width, 1) } }

  /// Pools `batch` sequences of `tokens` rows (`x`, `[batch·tokens × width]`, row stride `stride`) into `y`
  /// (`[batch × width]`).
  func apply(
    _ x: UnsafePointer<Float>, batch: Int, tokens: Int, stride: Int, into y: UnsafeMutablePointer<Float>
  ) {
    let w = width
    let hd = w / heads
    let scale = 1 / Float(hd).squareRoot()
    var input = [Float](repeating: 0, count: tokens * w)
    var keysValues = [Float](repeating: 0, count: tokens * 2 * w)
    var scores = [Float](repeating: 0, count: tokens)
    var attended = [Float](repeating: 0, count: latentCount * w)
    for b in 0..<batch {
      for t in 0..<tokens {
        for j in 0..<w { input[t * w + j] = x[(b * tokens + t) * stride + j] + (positions?[t * w + j] ?? 0) }
      }
      input.withUnsafeBufferPointer { ib in
        keysValues.withUnsafeMutableBufferPointer { kvb in
          guard let ip = ib.baseAddress, let kvp = kvb.baseAddress else { return }
          kv.apply(ip, rows: tokens, into: kvp)
          kNorm?.applyPerHead(kvp, tokens: tokens, heads: heads, rowStride: 2 * w)
        }
      }
      for l in 0..<latentCount {
        for h in 0..<heads {
          let q = l * w + h * hd
          for t in 0..<tokens {
            var dot: Float = 0
            for c in 0..<hd { dot += queries[q + c] * keysValues[t * 2 * w + h * hd + c] }
            scores[t] = dot
          }
          scores.withUnsafeMutableBufferPointer { sb in
            if let sp = sb.baseAddress {
              RowKernels.softmaxInPlace(sp, rows: 1, width: tokens, stride: tokens, scale: scale)
            }
          }
          for c in 0..<hd {
            var acc: Float = 0
            for t in 0..<tokens { acc += scores[t] * keysValues[t * 2 * w + w + h * hd + c] }
            attended[q + c] = acc
          }
        }
      }
      var out = attended
      if let proj {
        out = attended.withUnsafeBufferPointer { ab in
          uninitializedFloats(latentCount * w) { o in
            if let ap = ab.baseAddress { proj.apply(ap, rows: latentCount, into: o) }
          }
        }
      }
      if let mlp {
        var normed = out
        normed.withUnsafeMutableBufferPointer { nb in
          out.withUnsafeMutableBufferPointer { ob in
            guard let np = nb.baseAddress, let op = ob.baseAddress else { return }
            norm?.apply(np, rows: latentCount, into: np)
            mlp.apply(np, rows: latentCount, into: op, accumulate: true)
          }
        }
      }
      // timm's default pool type 'token': the first latent.
      for j in 0..<w { y[b * w + j] = out[j] }
    }
  }
}
