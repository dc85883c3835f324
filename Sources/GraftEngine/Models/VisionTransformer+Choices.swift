import GraftCore

extension VisionTransformer.Resolver {
  typealias H = VisionTransformer.ArchitectureHints

  /// Heads: given or metadata, checked against `q_norm` (whose weight has one entry per head dimension); else read
  /// from `q_norm`; else undetermined.
  func heads(width d: Int) throws(GraftError) -> Configured<Int> {
    var fromTensors: (heads: Int, headDim: Int)?
    if let q = weights.shape("blocks.0.attn.q_norm.weight"), q.count == 1, q[0] > 0, d % q[0] == 0 {
      fromTensors = (d / q[0], q[0])
    }
    let stated = try chosen(options.heads, "num_heads", option: "heads", expected: "an integer", H.int)
    let result: Configured<Int>
    if let stated {
      if let t = fromTensors, t.heads != stated.value {
        throw GraftError(
          .invalidModel,
          "\(stated.value) heads (\(stated.source.description)) disagree with the tensors: blocks.0.attn.q_norm.weight "
            + "has \(t.headDim) entries (the head dimension), so the width \(d) has \(t.heads) heads"
        ).resolved(by: "heads")
      }
      result = stated
    } else if let t = fromTensors {
      result = Configured(
        t.heads, .inferred("blocks.0.attn.q_norm.weight [\(t.headDim)]: width \(d) / head dim \(t.headDim)"))
    } else {
      let divisors = (1...max(1, d)).filter { d % $0 == 0 }
      let guess = divisors.min { (a: Int, b: Int) -> Bool in abs(a * 64 - d) < abs(b * 64 - d) } ?? 1
      result = undetermined(
        guess, assumed: "\(guess) head\(guess == 1 ? "" : "s") (head dim \(d / guess), timm's usual 64)",
        "the number of attention heads is not in the tensors (no q_norm) nor in the metadata", option: "heads",
        tensor: "blocks.0.attn.qkv.weight")
    }
    guard result.value > 0, d % result.value == 0 else {
      let near = (1...max(1, d)).filter { d % $0 == 0 }.sorted { abs($0 - result.value) < abs($1 - result.value) }
      throw GraftError(
        .invalidModel,
        "\(result.value) heads (\(result.source.description)) do not divide the width \(d); divisors near it: "
          + near.prefix(2).sorted().map(String.init).joined(separator: ", "),
        tensor: weights.fullName("blocks.0.attn.qkv.weight")
      ).resolved(by: "heads")
    }
    return result
  }

  /// The norm kind: a bias on `blocks.0.norm1` means LayerNorm; without one, RMSNorm and a bias-free LayerNorm both
  /// fit.
  func normKind() throws(GraftError) -> Configured<NormKind> {
    let stated = try chosen(
      options.normKind, "norm_layer", option: "normKind", expected: "layernorm or rmsnorm",
      { H.string($0).flatMap(NormKind.init(parsing:)) })
    if weights.contains("blocks.0.norm1.bias") {
      if let stated, stated.value == .rmsNorm {
        throw GraftError(
          .invalidModel, "the norm is rmsnorm (\(stated.source.description)), but an RMSNorm has no bias",
          tensor: weights.fullName("blocks.0.norm1.bias")
        ).resolved(by: "normKind")
      }
      return stated ?? Configured(.layerNorm, .inferred("blocks.0.norm1.bias (an RMSNorm has no bias)"))
    }
    if let stated { return stated }
    return undetermined(
      .rmsNorm, assumed: "rmsnorm (the norms have no bias)",
      "the norms have weights but no biases: RMSNorm and a bias-free LayerNorm both fit", option: "normKind",
      tensor: "blocks.0.norm1.weight")
  }

  /// The norm epsilon, which no tensor records.
  func normEps() throws(GraftError) -> Configured<Float> {
    if let stated = try chosen(
      options.normEps.map(Double.init), "norm_eps", option: "normEps", expected: "a number", H.double)
    {
      guard stated.value > 0, stated.value.isFinite else {
        throw GraftError(.invalidModel, "the norm epsilon \(stated.value) must be positive").resolved(by: "normEps")
      }
      return Configured(Float(stated.value), stated.source)
    }
    return undetermined(
      1e-6, assumed: "1e-6 (timm's LayerNorm and RmsNorm default)",
      "the norm epsilon is not in the tensors or the metadata (timm's default is 1e-6, CLIP models use 1e-5)",
      option: "normEps")
  }

  /// The activation; DINOv2's `w12` layout fixes SiLU.
  func activation(mlpKind: Configured<String>) throws(GraftError) -> Configured<Activation> {
    let stated = try chosen(
      options.activation, "act_layer", option: "activation", expected: "gelu, gelu_tanh, quick_gelu, relu or silu",
      { H.string($0).flatMap(Activation.init(parsing:)) })
    if weights.contains("blocks.0.mlp.w12.weight") {
      if let stated, stated.value != .silu {
        throw GraftError(
          .invalidModel,
          "the activation is \(stated.value.rawValue) (\(stated.source.description)), but mlp.w12 "
            + "(DINOv2 SwiGLUFFN) applies silu", tensor: weights.fullName("blocks.0.mlp.w12.weight")
        ).resolved(by: "activation")
      }
      return stated ?? Configured(.silu, .inferred("blocks.0.mlp.w12 (DINOv2 SwiGLUFFN applies silu)"))
    }
    if let stated { return stated }
    return undetermined(
      .gelu, assumed: "gelu (timm's default)",
      "the MLP activation is not in the tensors or the metadata (timm's default is gelu; CLIP uses quick_gelu)",
      option: "activation")
  }

  /// The MLP structure of block 0 and its hidden width.
  func mlp(width d: Int) throws(GraftError) -> (kind: Configured<String>, hidden: Configured<Int>) {
    let p = "blocks.0.mlp."
    let stated = try chosen(
      options.mlpKind, "mlp_layer", option: "mlpKind", expected: "mlp, swiglu, swiglu_packed or glu",
      { H.string($0).flatMap(MLPKind.init(parsing:)) })
    func fixed(_ kind: MLPKind, _ why: String, hidden: Int) throws(GraftError) -> (Configured<String>, Configured<Int>)
    {
      if let stated, stated.value != kind {
        throw GraftError(
          .invalidModel,
          "the MLP is \(stated.value.rawValue) (\(stated.source.description)), but the tensors are "
            + "\(kind.rawValue): \(why)", tensor: weights.fullName(p + "fc1.weight")
        ).resolved(by: "mlpKind")
      }
      return (Configured(kind.rawValue, .inferred(why)), Configured(hidden, .inferred(why)))
    }
    if let g = weights.shape(p + "fc1_g.weight") {
      return try fixed(.swiglu, "mlp.fc1_g/fc1_x (timm SwiGLU)", hidden: g.first ?? 0)
    }
    if let w = weights.shape(p + "w12.weight") {
      return try fixed(.swigluPacked, "mlp.w12 (DINOv2 SwiGLUFFN, gate first)", hidden: (w.first ?? 0) / 2)
    }
    guard let f1 = weights.shape(p + "fc1.weight"), let f2 = weights.shape(p + "fc2.weight"), f1.count == 2,
      f2.count == 2
    else {
      return (
        Configured("custom", .inferred("no mlp.fc1 in block 0: a feed-forward builder (MoE, DenoiseRep) reads it")),
        Configured(0, .inferred("no mlp.fc1 in block 0"))
      )
    }
    if f1[0] != f2[1] && f1[0] == 2 * f2[1] {
      let why = "mlp.fc1 \(f1) is twice fc2's input \(f2[1]): a packed gated MLP"
      let kind: Configured<MLPKind>
      if let stated {
        guard stated.value == .swigluPacked || stated.value == .glu else {
          throw GraftError(
            .invalidModel, "the MLP is \(stated.value.rawValue) (\(stated.source.description)), but \(why)",
            tensor: weights.fullName(p + "fc1.weight")
          ).resolved(by: "mlpKind")
        }
        kind = stated
      } else {
        kind = undetermined(
          .swigluPacked, assumed: "swiglu_packed (gate first, as timm's SwiGLUPacked)",
          why + ", but which half is the gate is not in the tensors (swiglu_packed: first, glu: second)",
          option: "mlpKind", tensor: p + "fc1.weight")
      }
      return (Configured(kind.value.rawValue, kind.source), Configured(f2[1], .inferred(why)))
    }
    return try fixed(.mlp, "mlp.fc1 \(f1) and fc2 \(f2)", hidden: f1[0])
  }

  /// The pooling: fixed by `attn_pool` (map) or a distillation token (token); otherwise given or metadata.
  func globalPool(
    hasClassToken cls: Bool, distilled: Bool, fcNorm: Bool
  ) throws(GraftError) -> Configured<VisionTransformer.GlobalPool> {
    let stated = try chosen(
      options.globalPool, "global_pool", option: "globalPool",
      expected: "token, avg, max, avgmax, map or '' ('prr' is not supported)",
      { H.string($0).flatMap { try? VisionTransformer.GlobalPool.parse($0) } })
    let fixed: (VisionTransformer.GlobalPool, String)?
    if distilled {
      fixed = (.token, "dist_token (a distilled DeiT averages the class and distillation heads)")
    } else if weights.contains("attn_pool.latent") {
      fixed = (.map, "attn_pool.latent (timm AttentionPoolLatent)")
    } else {
      fixed = nil
    }
    if let (pool, why) = fixed {
      if let stated, stated.value != pool {
        throw GraftError(
          .invalidModel,
          "the pooling is \(stated.value.rawValue) (\(stated.source.description)), but the tensors fix "
            + "\(pool.rawValue): \(why)"
        ).resolved(by: "globalPool")
      }
      return stated ?? Configured(pool, .inferred(why))
    }
    if let stated {
      if stated.value == .map {
        throw GraftError(
          .invalidModel,
          "map pooling (\(stated.source.description)) needs attn_pool.* tensors; the checkpoint has none",
          tensor: weights.fullName("attn_pool.latent")
        ).resolved(by: "globalPool")
      }
      if stated.value == .token && !cls {
        throw GraftError(
          .invalidModel, "token pooling (\(stated.source.description)) needs a class token; the checkpoint has none",
          tensor: weights.fullName("cls_token")
        ).resolved(by: "globalPool")
      }
      return stated
    }
    let guess: VisionTransformer.GlobalPool = fcNorm || !cls ? .avg : .token
    return undetermined(
      guess,
      assumed: "\(guess.rawValue) (\(fcNorm ? "fc_norm present" : cls ? "class token present" : "no class token"))",
      "the pooling is not in the tensors: "
        + (cls ? "with a class token, token, avg, max and avgmax" : "avg, max and avgmax")
        + " pooling all fit", option: "globalPool")
  }

  /// Whether pooling reads the prefix tokens: only a question for avg/max/avgmax/map pooling with prefix tokens.
  func poolIncludePrefix(pool: VisionTransformer.GlobalPool, prefixTokens: Int) throws(GraftError) -> Configured<Bool> {
    let stated = try chosen(
      options.poolIncludePrefix, "pool_include_prefix", option: "poolIncludePrefix", expected: "a boolean", H.bool)
    guard [.avg, .max, .avgmax, .map].contains(pool), prefixTokens > 0 else {
      let why = prefixTokens == 0 ? "no prefix tokens" : "\(pool.rawValue) pooling reads no token range"
      return stated ?? Configured(false, .inferred(why))
    }
    if let stated { return stated }
    return undetermined(
      false, assumed: "false (timm's default)",
      "whether \(pool.rawValue) pooling also reads the \(prefixTokens) prefix tokens is not in the tensors",
      option: "poolIncludePrefix")
  }

  /// The checkpoint's image size and how `pos_embed` lays out its positions.
  func positions(
    width d: Int, patch: [Int], prefix: Int
  ) throws(GraftError) -> (present: Bool, imageSize: Configured<[Int]>, noEmbedClass: Configured<Bool>) {
    let stated = try chosen(
      options.imageSize.map(Self.square), "img_size", option: "imageSize", expected: "a size", H.size)
    guard let pos = weights.shape("pos_embed") else {
      let none = Configured(false, .inferred("no pos_embed"))
      if let stated { return (false, stated, none) }
      let size = undetermined(
        [224, 224], assumed: "224×224 (timm's default)",
        "the checkpoint has no pos_embed, so the image size is not in the tensors", option: "imageSize")
      return (false, size, none)
    }
    guard pos.count == 3, pos[0] == 1, pos[2] == d, pos[1] > 0 else {
      throw GraftError(
        .invalidModel, "has shape \(pos); expected [1, tokens, \(d)]", tensor: weights.fullName("pos_embed"))
    }
    let count = pos[1]
    if let stated, !stated.source.isDefault {
      let grid = try Self.grid(stated.value, patch: patch, source: stated.source)
      let cells = grid[0] * grid[1]
      if count == cells + prefix || (count == cells && prefix == 0) {
        return (true, stated, Configured(false, .inferred("pos_embed \(pos): \(cells) patches + \(prefix) prefix")))
      }
      if count == cells {
        return (true, stated, Configured(true, .inferred("pos_embed \(pos): \(cells) patches, no prefix positions")))
      }
      throw GraftError(
        .invalidModel,
        "has \(count) positions, but img_size \(stated.value) (\(stated.source.description)) with patch \(patch) "
          + "makes \(grid[0])×\(grid[1]) = \(cells) patches (+ \(prefix) prefix tokens)",
        tensor: weights.fullName("pos_embed")
      ).resolved(by: "imageSize")
    }
    var readings: [(side: Int, noEmbedClass: Bool)] = []
    if count > prefix, let g = Self.squareRoot(count - prefix) { readings.append((g, false)) }
    if prefix > 0, let g = Self.squareRoot(count) { readings.append((g, true)) }
    let what = "pos_embed \(pos)"
    switch readings.count {
    case 0:
      throw GraftError(
        .invalidModel,
        "has \(count) positions, which is not a square grid with or without the \(prefix) prefix tokens "
          + "(a non-square image needs its size)", tensor: weights.fullName("pos_embed")
      ).resolved(by: "imageSize")
    case 1:
      let (g, noEmbed) = readings[0]
      let why = "\(what): a \(g)×\(g) grid" + (prefix > 0 ? (noEmbed ? " without" : " plus") + " \(prefix) prefix" : "")
      return (
        true, Configured([g * patch[0], g * patch[1]], .inferred(why + " (square)")),
        Configured(noEmbed, .inferred(why))
      )
    default:
      if let stated = try hints.lookup(
        "no_embed_class", option: "imageSize", expected: "a boolean", H.bool), !stated.source.isDefault,
        let pick = readings.first(where: { $0.noEmbedClass == stated.value })
      {
        return (true, Configured([pick.side * patch[0], pick.side * patch[1]], stated.source), stated)
      }
      let (g, _) = readings[0]
      let size = undetermined(
        [g * patch[0], g * patch[1]],
        assumed: "\(g)×\(g) patches plus the prefix positions (timm no_embed_class=False)",
        "\(what) fits both a \(readings[0].side)² grid plus \(prefix) prefix positions and a \(readings[1].side)² "
          + "grid without them (no_embed_class)", option: "imageSize", tensor: "pos_embed")
      return (true, size, Configured(false, size.source))
    }
  }

  /// The size the model runs at: the resampling target when given.
  func inputSize(_ imageSize: Configured<[Int]>, patch: [Int]) throws(GraftError) -> Configured<[Int]> {
    guard let target = options.resamplePositionEmbedding.map(Self.square) else { return imageSize }
    _ = try Self.grid(target, patch: patch, source: .given, option: "resamplePositionEmbedding")
    return Configured(target, .given)
  }

  /// The patch grid of an image size, which must be a positive multiple of the patch.
  static func grid(
    _ size: [Int], patch: [Int], source: ConfigurationSource, option: String = "imageSize"
  ) throws(GraftError) -> [Int] {
    guard size.count == 2, size[0] > 0, size[1] > 0, size[0] % patch[0] == 0, size[1] % patch[1] == 0 else {
      throw GraftError(
        .invalidModel,
        "the image size \(size) (\(source.description)) is not [height, width] in positive multiples of the patch "
          + "\(patch)"
      ).resolved(by: option)
    }
    return [size[0] / patch[0], size[1] / patch[1]]
  }

  /// `[side]` as `[side, side]`; other sizes as given.
  static func square(_ size: [Int]) -> [Int] { size.count == 1 ? [size[0], size[0]] : size }

  static func squareRoot(_ n: Int) -> Int? {
    guard n > 0 else { return nil }
    var r = 0
    while (r + 1) * (r + 1) <= n { r += 1 }
    return r * r == n ? r : nil
  }
}
