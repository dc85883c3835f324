public import GraftCore

/// The spatial layout of a flattened multi-scale feature map: each level's height and width, level after level.
public struct FeatureLevels: Sendable, Hashable {
  /// `(height, width)` per level.
  public var shapes: [(height: Int, width: Int)]

  /// Creates a layout.
  public init(_ shapes: [(height: Int, width: Int)]) { self.shapes = shapes }

  /// The index of each level's first token.
  public var starts: [Int] {
    var s: [Int] = []
    var total = 0
    for (h, w) in shapes {
      s.append(total)
      total += h * w
    }
    return s
  }

  /// The total number of tokens.
  public var tokenCount: Int { shapes.reduce(0) { $0 + $1.height * $1.width } }

  /// Compares layouts.
  public static func == (a: FeatureLevels, b: FeatureLevels) -> Bool {
    a.shapes.count == b.shapes.count && zip(a.shapes, b.shapes).allSatisfy { $0 == $1 }
  }

  /// Hashes the layout.
  public func hash(into hasher: inout Hasher) {
    for (h, w) in shapes {
      hasher.combine(h)
      hasher.combine(w)
    }
  }
}

/// detrex's `MultiScaleDeformableAttention`: each query samples `points` locations per head and level around its
/// reference point by bilinear interpolation and mixes them with softmax weights.
///
/// Sampling follows `multi_scale_deformable_attn_pytorch`: `grid_sample(2·loc − 1, bilinear, padding_mode="zeros",
/// align_corners=False)`, so locations outside a level read zeros. The residual (`identity`) is not added here.
public struct MultiScaleDeformableAttention: Sendable {
  /// The width.
  public let width: Int
  /// Heads.
  public let heads: Int
  /// Levels.
  public let levels: Int
  /// Sampling points per head and level.
  public let points: Int
  let samplingOffsets: Linear
  let attentionWeights: Linear
  let valueProjection: Linear
  let outputProjection: Linear

  /// Loads `<prefix>{sampling_offsets,attention_weights,value_proj,output_proj}.{weight,bias}`.
  public init(
    _ weights: WeightLoader, prefix: String, width: Int, heads: Int, levels: Int, points: Int
  )
    throws(GraftError)
  {
    self.width = width
    self.heads = heads
    self.levels = levels
    self.points = points
    samplingOffsets = try Linear(
      weights, prefix: prefix + "sampling_offsets.", inFeatures: width, outFeatures: heads * levels * points * 2,
      requireBias: true)
    attentionWeights = try Linear(
      weights, prefix: prefix + "attention_weights.", inFeatures: width, outFeatures: heads * levels * points,
      requireBias: true)
    valueProjection = try Linear(
      weights, prefix: prefix + "value_proj.", inFeatures: width, outFeatures: width, requireBias: true)
    outputProjection = try Linear(
      weights, prefix: prefix + "output_proj.", inFeatures: width, outFeatures: width, requireBias: true)
  }

  /// Attends from `query` (`[n × width]`, position already added) to `value` (`[tokens × width]`).
  ///
  /// `references` holds per query either `(x, y)` (2-d: offsets are divided by each level's width and height) or
  /// `(cx, cy, w, h)` (4-d: offsets are scaled by `w, h · 0.5 / points`), normalised to [0, 1].
  public func forward(
    query: FloatTensor, value: FloatTensor, levels layout: FeatureLevels, references: [Float]
  )
    throws(GraftError) -> FloatTensor
  {
    let n = query.count / width
    let tokens = layout.tokenCount
    guard value.count == tokens * width, layout.shapes.count == levels else {
      throw GraftError(
        .invalidArgument,
        "deformable attention over \(levels) levels got \(layout.shapes.count) levels and a value of shape "
          + "\(value.shape) for \(tokens) tokens")
    }
    let refDim = references.count / max(n, 1)
    guard refDim == 2 || refDim == 4, references.count == n * refDim else {
      throw GraftError(.invalidArgument, "reference points must be 2-d or 4-d per query; got \(references.count)")
    }
    let v = try valueProjection.forward(value).values
    let offsets = try samplingOffsets.forward(query).values
    var logits = try attentionWeights.forward(query).values
    let lp = levels * points
    let hd = width / heads
    // Softmax over levels × points per head, as `attention_weights.softmax(-1)`.
    for row in 0..<(n * heads) {
      let base = row * lp
      var m = -Float.infinity
      for j in 0..<lp { m = max(m, logits[base + j]) }
      var s: Float = 0
      for j in 0..<lp {
        let e = Elementary.exp(logits[base + j] - m)
        logits[base + j] = e
        s += e
      }
      for j in 0..<lp { logits[base + j] /= s }
    }
    let starts = layout.starts
    var out = [Float](repeating: 0, count: n * width)
    var acc = [Float](repeating: 0, count: hd)
    for q in 0..<n {
      let r = q * refDim
      for h in 0..<heads {
        for k in 0..<hd { acc[k] = 0 }
        for l in 0..<levels {
          let (hl, wl) = layout.shapes[l]
          for p in 0..<points {
            let o = (((q * heads + h) * levels + l) * points + p) * 2
            let x: Float
            let y: Float
            if refDim == 2 {
              x = references[r] + offsets[o] / Float(wl)
              y = references[r + 1] + offsets[o + 1] / Float(hl)
            } else {
              x = references[r] + offsets[o] / Float(points) * references[r + 2] * 0.5
              y = references[r + 1] + offsets[o + 1] / Float(points) * references[r + 3] * 0.5
            }
            let a = logits[((q * heads + h) * levels + l) * points + p]
            Self.sampleBilinear(
              v, start: starts[l], height: hl, width: wl, stride: width, channel: h * hd, count: hd,
              gridX: 2 * x - 1, gridY: 2 * y - 1, weight: a, into: &acc)
          }
        }
        for k in 0..<hd { out[q * width + h * hd + k] = acc[k] }
      }
    }
    return try outputProjection.forward(FloatTensor(shape: [n, width], values: out))
  }

  /// Adds `weight · grid_sample(value, (gridX, gridY))` for one head's channels to `acc`.
  static func sampleBilinear(
    _ value: [Float], start: Int, height: Int, width: Int, stride: Int, channel: Int, count: Int, gridX: Float,
    gridY: Float, weight: Float, into acc: inout [Float]
  ) {
    // grid_sampler_compute_source_index with align_corners=False.
    let ix = ((gridX + 1) * Float(width) - 1) / 2
    let iy = ((gridY + 1) * Float(height) - 1) / 2
    guard ix.isFinite, iy.isFinite else { return }
    let x0 = Int(ix.rounded(.down))
    let y0 = Int(iy.rounded(.down))
    let x1 = x0 + 1
    let y1 = y0 + 1
    let nw = (Float(x1) - ix) * (Float(y1) - iy)
    let ne = (ix - Float(x0)) * (Float(y1) - iy)
    let sw = (Float(x1) - ix) * (iy - Float(y0))
    let se = (ix - Float(x0)) * (iy - Float(y0))
    for (cx, cy, w) in [(x0, y0, nw), (x1, y0, ne), (x0, y1, sw), (x1, y1, se)] {
      guard cx >= 0, cx < width, cy >= 0, cy < height else { continue }
      let base = (start + cy * width + cx) * stride + channel
      let scaled = w * weight
      for k in 0..<count { acc[k] += scaled * value[base + k] }
    }
  }
}
