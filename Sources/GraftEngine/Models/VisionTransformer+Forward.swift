public import GraftCore

extension VisionTransformer {
  /// Runs images `[N, C, H, W]` (or one image `[C, H, W]`).
  ///
  /// - Throws: `invalidArgument` when the input shape differs from `[N] + sampleShape`, or the input holds NaN or
  ///   infinity.
  public func forward(_ images: FloatTensor, hiddenStates: Bool = false) throws(GraftError) -> ForwardOutputs {
    let c = configuration
    var shape = images.shape
    if shape.count == 3 { shape.insert(1, at: 0) }
    guard shape.count == 4, Array(shape.dropFirst()) == sampleShape, shape[0] > 0 else {
      throw GraftError(
        .invalidArgument,
        "input has shape \(images.shape); the model expects [N, \(sampleShape.map(String.init).joined(separator: ", "))]"
      )
    }
    if let bad = images.values.firstIndex(where: { !$0.isFinite }) {
      throw GraftError(.invalidArgument, "input value at flat index \(bad) is \(images.values[bad])")
    }
    let n = shape[0]
    let d = c.embedDim.value
    let t = c.tokens
    var x = [Float](repeating: 0, count: n * t * d)
    var captured: [FloatTensor] = []
    x.withUnsafeMutableBufferPointer { xb in
      guard let xp = xb.baseAddress else { return }
      embed(images.values, batch: n, into: xp)
      if let preNorm { preNorm.apply(xp, rows: n * t, into: xp) }
      for block in blocks {
        block.apply(xp, batch: n, tokens: t)
        if hiddenStates {
          captured.append(
            FloatTensor(unchecked: [n, t, d], values: Array(UnsafeBufferPointer(start: xp, count: n * t * d))))
        }
      }
      if let finalNorm { finalNorm.apply(xp, rows: n * t, into: xp) }
    }
    let (features, output) = try readOut(x, batch: n)
    return ForwardOutputs(output: output, pooled: features, hiddenStates: captured)
  }

  /// Pools the normed sequence, applies `fc_norm` and the head (timm `forward_head`; DeiT's averaged heads).
  private func readOut(_ x: [Float], batch n: Int) throws(GraftError) -> (features: FloatTensor, output: FloatTensor) {
    let c = configuration
    let d = c.embedDim.value
    let t = c.tokens
    if c.distilled.value {
      var cls = [Float](repeating: 0, count: n * d)
      var dist = cls
      for b in 0..<n {
        for j in 0..<d {
          cls[b * d + j] = x[b * t * d + j]
          dist[b * d + j] = x[b * t * d + d + j]
        }
      }
      let pooled = zip(cls, dist).map { ($0 + $1) / 2 }
      guard let head, let distillationHead else {
        let f = FloatTensor(unchecked: [n, d], values: pooled)
        return (f, f)
      }
      let a = try head.forward(FloatTensor(unchecked: [n, d], values: cls))
      let b = try distillationHead.forward(FloatTensor(unchecked: [n, d], values: dist))
      let out = FloatTensor(unchecked: a.shape, values: zip(a.values, b.values).map { ($0 + $1) / 2 })
      return (FloatTensor(unchecked: [n, d], values: pooled), out)
    }
    var features: FloatTensor
    let start = c.poolIncludePrefix.value ? 0 : c.prefixTokens
    switch c.globalPool.value {
    case .none:
      features = FloatTensor(unchecked: [n, t, d], values: x)
    case .map:
      var pooled = [Float](repeating: 0, count: n * d)
      x.withUnsafeBufferPointer { xb in
        pooled.withUnsafeMutableBufferPointer { pb in
          guard let xp = xb.baseAddress, let pp = pb.baseAddress else { return }
          for b in 0..<n {
            attentionPool?.apply(xp + (b * t + start) * d, batch: 1, tokens: t - start, stride: d, into: pp + b * d)
          }
        }
      }
      features = FloatTensor(unchecked: [n, d], values: pooled)
    case .token, .avg, .max, .avgmax:
      features = FloatTensor(
        unchecked: [n, d], values: Pooling.reduce(x, batch: n, tokens: t, width: d, from: start, c.globalPool.value))
    }
    if let fcNorm { features = try fcNorm.forward(features) }
    let output = try head?.forward(features) ?? features
    return (features, output)
  }

  /// Writes the token sequence: prefix tokens, patch embeddings, position embeddings (timm `_pos_embed`).
  private func embed(_ images: [Float], batch n: Int, into x: UnsafeMutablePointer<Float>) {
    let c = configuration
    let d = c.embedDim.value
    let t = c.tokens
    let p = c.prefixTokens
    let grid = c.grid[0] * c.grid[1]
    var patches = images.withUnsafeBufferPointer { ib in
      uninitializedFloats(n * grid * d) { out in
        patchEmbed.applyChannelsLast(
          ib.baseAddress.unsafelyUnwrapped, batch: n, height: c.inputSize.value[0], width: c.inputSize.value[1],
          into: out)
      }
    }
    patches.withUnsafeMutableBufferPointer { pb in
      guard let pp = pb.baseAddress else { return }
      embedNorm?.apply(pp, rows: n * grid, into: pp)
      for b in 0..<n {
        let seq = x + b * t * d
        var offset = 0
        for token in [classToken, distillationToken, registerTokens] {
          guard let token else { continue }
          (seq + offset).update(from: token, count: token.count)
          offset += token.count
        }
        (seq + p * d).update(from: pp + b * grid * d, count: grid * d)
        positions?.withUnsafeBufferPointer { pos in
          guard let posp = pos.baseAddress else { return }
          if c.noEmbedClass.value {
            RowKernels.addInPlace(seq + p * d, posp, count: grid * d)
          } else {
            RowKernels.addInPlace(seq, posp, count: t * d)
          }
        }
      }
    }
  }
}

/// Token reductions of timm's `global_pool_nlc`.
enum Pooling {
  /// Reduces tokens `from..<tokens` of each sequence (`x`: `[batch, tokens, width]`) to one vector.
  static func reduce(
    _ x: [Float], batch n: Int, tokens t: Int, width d: Int, from start: Int, _ pool: VisionTransformer.GlobalPool
  ) -> [Float] {
    var pooled = [Float](repeating: 0, count: n * d)
    var sum = [Double](repeating: 0, count: d)
    var peak = [Float](repeating: 0, count: d)
    let count = Double(t - start)
    for b in 0..<n {
      let seq = b * t * d
      if pool == .token {
        for j in 0..<d { pooled[b * d + j] = x[seq + j] }
        continue
      }
      // Column sums in Double: up to hundreds of tokens, and the mean is the pooled output itself.
      for j in 0..<d {
        sum[j] = 0
        peak[j] = -.infinity
      }
      for r in start..<t {
        for j in 0..<d {
          let v = x[seq + r * d + j]
          sum[j] += Double(v)
          peak[j] = max(peak[j], v)
        }
      }
      for j in 0..<d {
        let mean = Float(sum[j] / count)
        switch pool {
        case .max: pooled[b * d + j] = peak[j]
        case .avgmax: pooled[b * d + j] = 0.5 * (peak[j] + mean)
        default: pooled[b * d + j] = mean
        }
      }
    }
    return pooled
  }
}
