public import GraftCore

/// Everything the primary route computes for one image, including the intermediates golden tests compare before
/// each top-k (which is tie-sensitive).
public struct DeformableDETROutput: Sendable {
  /// Encoder output `[tokens × width]`.
  public var memory: FloatTensor
  /// Two-stage objectness logits `class_embed[L](enc_output_norm(enc_output(memory)))[:, 0]`, `[tokens]`.
  public var proposalScores: [Float]
  /// Unsigmoided proposal boxes `bbox_embed[L](·) + proposal`, `[tokens × 4]`; `+∞` for invalid proposals.
  public var proposalBoxes: [Float]
  /// The tokens chosen by the two-stage top-k, best first.
  public var selectedTokens: [Int]
  /// The initial reference boxes `sigmoid(topk_coords_unact)`, `[queries × 4]`.
  public var initialReferences: [Float]
  /// Per decoder layer: the class logits `class_embed[l](h_l)`, `[queries × classes]` each.
  public var layerLogits: [[Float]]
  /// Per decoder layer: the boxes `sigmoid(bbox_embed[l](h_l) + inverse_sigmoid(ref_{l−1}))`, `[queries × 4]` each.
  public var layerBoxes: [[Float]]
  /// The eval-time fused logits of the last layer, `[queries × classes]`.
  public var fusedLogits: [Float]
  /// The last layer's boxes (cx, cy, w, h, normalised), `[queries × 4]`.
  public var boxes: [Float]
  /// The final detections, best first.
  public var detections: [Detection]

  /// One detection after post-processing.
  public struct Detection: Sendable, Hashable {
    /// `sigmoid(fused logit)`.
    public var score: Float
    /// The class index.
    public var label: Int
    /// The query it came from.
    public var query: Int
    /// `(x0, y0, x1, y1)` scaled to the image size.
    public var box: [Float]
  }
}

extension DeformableDETR {
  /// Runs the primary route on feature maps `[width × H_l × W_l]` (the neck's outputs, channel-first).
  ///
  /// `imageSize` scales the final boxes (`(width, height)`; `(1, 1)` keeps them normalised).
  public func forward(
    features: [FloatTensor], imageSize: (width: Float, height: Float) = (1, 1)
  )
    throws(GraftError) -> DeformableDETROutput
  {
    let d = config.embedDim
    guard features.count == config.levels else {
      throw GraftError(.invalidArgument, "expected \(config.levels) feature levels; got \(features.count)")
    }
    var shapes: [(height: Int, width: Int)] = []
    for (l, f) in features.enumerated() {
      guard f.shape.count == 3, f.shape[0] == d else {
        throw GraftError(.invalidArgument, "feature level \(l) has shape \(f.shape); expected [\(d), H, W]")
      }
      shapes.append((f.shape[1], f.shape[2]))
    }
    let layout = FeatureLevels(shapes)
    let tokens = layout.tokenCount
    guard tokens >= config.queries else {
      throw GraftError(
        .invalidArgument, "the feature maps have \(tokens) tokens, fewer than the \(config.queries) proposals to select"
      )
    }

    // Flatten to tokens × channels, level after level; positions get the level embedding.
    var src = [Float](repeating: 0, count: tokens * d)
    var pos = [Float](repeating: 0, count: tokens * d)
    var references = [Float](repeating: 0, count: tokens * 2)
    var t = 0
    for (l, f) in features.enumerated() {
      let (h, w) = shapes[l]
      let sine = Self.sinePositions(height: h, width: w, features: d / 2)
      for i in 0..<h {
        for j in 0..<w {
          for c in 0..<d {
            src[t * d + c] = f.values[(c * h + i) * w + j]
            pos[t * d + c] = sine[(i * w + j) * d + c] + levelEmbeds[l * d + c]
          }
          references[t * 2] = (Float(j) + 0.5) / Float(w)
          references[t * 2 + 1] = (Float(i) + 0.5) / Float(h)
          t += 1
        }
      }
    }

    // Encoder: post-norm deformable self-attention and FFN.
    var x = try FloatTensor(shape: [tokens, d], values: src)
    let posTensor = try FloatTensor(shape: [tokens, d], values: pos)
    for layer in encoder {
      let attended = try layer.attention.forward(
        query: Self.add(x, posTensor), value: x, levels: layout, references: references)
      x = try layer.feedForward.forward(layer.attentionNorm.forward(Self.add(x, attended)))
    }
    let memory = x

    // Two-stage proposals (gen_encoder_output_proposals): invalid proposals become +inf and their memory zero.
    var proposals = [Float](repeating: 0, count: tokens * 4)
    var masked = memory.values
    t = 0
    for (l, (h, w)) in shapes.enumerated() {
      let wh = Float(0.05) * Float(1 << l)
      for i in 0..<h {
        for j in 0..<w {
          let p: [Float] = [(Float(j) + 0.5) / Float(w), (Float(i) + 0.5) / Float(h), wh, wh]
          let valid = p.allSatisfy { $0 > 0.01 && $0 < 0.99 }
          for k in 0..<4 { proposals[t * 4 + k] = valid ? Elementary.log(p[k] / (1 - p[k])) : .infinity }
          if !valid { for c in 0..<d { masked[t * d + c] = 0 } }
          t += 1
        }
      }
    }
    let outputMemory = try encOutputNorm.forward(
      encOutput.forward(FloatTensor(shape: [tokens, d], values: masked)))
    let L = config.decoderLayers
    let encClass = try classHeads[L].forward(outputMemory)
    let proposalScores = (0..<tokens).map { encClass.values[$0 * config.classes] }
    var proposalBoxes = try boxHeads[L].forward(outputMemory).values
    for k in 0..<(tokens * 4) { proposalBoxes[k] += proposals[k] }
    let selected = try Selection.topK(FloatTensor(shape: [1, tokens], values: proposalScores), k: config.queries)
      .indices[0]
    var coordsUnact = [Float](repeating: 0, count: config.queries * 4)
    for (q, s) in selected.enumerated() { for k in 0..<4 { coordsUnact[q * 4 + k] = proposalBoxes[s * 4 + k] } }
    var reference = coordsUnact.map(Elementary.sigmoid)
    let initialReferences = reference
    let posEmbed = try posTransNorm.forward(
      posTrans.forward(
        FloatTensor(shape: [config.queries, 2 * d], values: Self.proposalPositions(coordsUnact, features: d / 2))))
    var queryPosValues = [Float](repeating: 0, count: config.queries * d)
    for q in 0..<config.queries {
      for c in 0..<d { queryPosValues[q * d + c] = posEmbed.values[q * 2 * d + c] }
    }
    let queryPos = try FloatTensor(shape: [config.queries, d], values: queryPosValues)

    // Decoder with iterative box refinement; heads per layer; eval-time score fusion.
    var h = try FloatTensor(shape: [config.queries, d], values: queryEmbedding)
    var layerLogits: [[Float]] = []
    var layerBoxes: [[Float]] = []
    var fused: [Float] = []
    for (l, layer) in decoder.enumerated() {
      let q = try Self.add(h, queryPos)
      let sa = try selfAttention(query: q, value: h, layer: layer)
      h = try layer.selfNorm.forward(Self.add(h, sa))
      let ca = try layer.crossAttention.forward(
        query: Self.add(h, queryPos), value: memory, levels: layout, references: reference)
      h = try layer.crossNorm.forward(Self.add(h, ca))
      h = try layer.feedForward.forward(h)
      var delta = try boxHeads[l].forward(h).values
      for k in 0..<delta.count { delta[k] = Elementary.sigmoid(delta[k] + Elementary.inverseSigmoid(reference[k])) }
      reference = delta
      layerBoxes.append(delta)
      let logits = try classHeads[l].forward(h).values
      layerLogits.append(logits)
      if l == 0 {
        fused = logits
      } else {
        for k in 0..<logits.count {
          let a = Elementary.pow(Double(Elementary.sigmoid(logits[k])), 2.001)
          let b = Elementary.pow(Double(Elementary.sigmoid(fused[k])), 1.853)
          fused[k] = Elementary.inverseSigmoid(Float(((a + b) / 2).squareRoot()))
        }
      }
    }

    // Post-process: top-k over queries × classes of sigmoid(fused), cxcywh → xyxy, scaled.
    let probabilities = fused.map(Elementary.sigmoid)
    let k = min(config.detections, probabilities.count)
    let top = try Selection.topK(FloatTensor(shape: [1, probabilities.count], values: probabilities), k: k)
    var detections: [DeformableDETROutput.Detection] = []
    for (index, score) in zip(top.indices[0], top.values[0]) {
      let query = index / config.classes
      let b = Array(reference[(query * 4)..<(query * 4 + 4)])
      let box = [
        (b[0] - 0.5 * b[2]) * imageSize.width, (b[1] - 0.5 * b[3]) * imageSize.height,
        (b[0] + 0.5 * b[2]) * imageSize.width, (b[1] + 0.5 * b[3]) * imageSize.height,
      ]
      detections.append(.init(score: score, label: index % config.classes, query: query, box: box))
    }
    return DeformableDETROutput(
      memory: memory, proposalScores: proposalScores, proposalBoxes: proposalBoxes, selectedTokens: selected,
      initialReferences: initialReferences, layerLogits: layerLogits, layerBoxes: layerBoxes, fusedLogits: fused,
      boxes: reference, detections: detections)
  }

  /// `nn.MultiheadAttention` with packed `in_proj_weight`: q and k from `query`, v from `value`, no mask.
  func selfAttention(query: FloatTensor, value: FloatTensor, layer: DecoderLayer) throws(GraftError) -> FloatTensor {
    let d = config.embedDim
    let n = query.count / d
    let heads = config.heads
    let hd = d / heads
    let qk = try layer.inProjection.forward(query).values
    let vAll = try layer.inProjection.forward(value).values
    let scale = 1 / Float(hd).squareRoot()
    var out = [Float](repeating: 0, count: n * d)
    var scores = [Float](repeating: 0, count: n)
    for h in 0..<heads {
      for i in 0..<n {
        var m = -Float.infinity
        for j in 0..<n {
          var s: Float = 0
          for c in 0..<hd { s += qk[i * 3 * d + h * hd + c] * qk[j * 3 * d + d + h * hd + c] }
          scores[j] = s * scale
          m = max(m, scores[j])
        }
        var total: Float = 0
        for j in 0..<n {
          scores[j] = Elementary.exp(scores[j] - m)
          total += scores[j]
        }
        for j in 0..<n {
          let p = scores[j] / total
          for c in 0..<hd { out[i * d + h * hd + c] += p * vAll[j * 3 * d + 2 * d + h * hd + c] }
        }
      }
    }
    return try layer.outProjection.forward(FloatTensor(shape: [n, d], values: out))
  }

  static func add(_ a: FloatTensor, _ b: FloatTensor) throws(GraftError) -> FloatTensor {
    var out = a
    for k in 0..<out.values.count { out.values[k] += b.values[k] }
    return out
  }

  /// The frequencies `10000^(2⌊i/2⌋ / features)` shared by both sine embeddings.
  static func frequencies(_ features: Int) -> [Double] {
    (0..<features).map { i in
      Double(Float(Elementary.pow(10000, Double(Float(2 * (i / 2)) / Float(features)))))
    }
  }

  /// `PositionEmbeddingSine(features, T=10000, normalize=True, offset=-0.5)` for one level: `[H·W × 2·features]`,
  /// y features first, sin and cos interleaved.
  static func sinePositions(height: Int, width: Int, features: Int) -> [Float] {
    let dimT = frequencies(features)
    let scale = Float(2 * Double.pi)
    var out = [Float](repeating: 0, count: height * width * 2 * features)
    for i in 0..<height {
      let y = (Float(i + 1) - 0.5) / (Float(height) + 1e-6) * scale
      for j in 0..<width {
        let x = (Float(j + 1) - 0.5) / (Float(width) + 1e-6) * scale
        let base = (i * width + j) * 2 * features
        for k in 0..<features {
          let py = Float(Double(y) / dimT[k])
          let px = Float(Double(x) / dimT[k])
          let sy = Elementary.sinCos(Double(py))
          let sx = Elementary.sinCos(Double(px))
          out[base + k] = Float(k % 2 == 0 ? sy.sin : sy.cos)
          out[base + features + k] = Float(k % 2 == 0 ? sx.sin : sx.cos)
        }
      }
    }
    return out
  }

  /// detrex `get_proposal_pos_embed`: `sigmoid(coords)·2π / dim_t`, sin/cos interleaved, 4 × features per query.
  static func proposalPositions(_ coords: [Float], features: Int) -> [Float] {
    let dimT = frequencies(features)
    let scale = Float(2 * Double.pi)
    var out = [Float](repeating: 0, count: coords.count * features)
    for (n, c) in coords.enumerated() {
      let v = Elementary.sigmoid(c) * scale
      for k in 0..<features {
        let p = Float(Double(v) / dimT[k])
        let sc = Elementary.sinCos(Double(p))
        out[n * features + k] = Float(k % 2 == 0 ? sc.sin : sc.cos)
      }
    }
    return out
  }
}
