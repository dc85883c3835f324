public import GraftCore

extension VisionTransformer {
  /// Resolves one value: the option, else the metadata; decides what an undetermined value becomes.
  struct Resolver {
    let weights: WeightLoader
    let options: Options
    let hints: ArchitectureHints
    /// The values nothing determined, gathered so that one error can name all of their options.
    let missing = Missing()

    final class Missing {
      var reasons: [(message: String, option: String, tensor: String?)] = []
    }

    /// The option when set, else the metadata's value of timm argument `key`.
    func chosen<T: Sendable & Equatable>(
      _ option: T?, _ key: String, option name: String, expected: String, _ parse: (JSONValue) -> T?
    ) throws(GraftError) -> Configured<T>? {
      if let option { return Configured(option, .given) }
      return try hints.lookup(key, option: name, expected: expected, parse)
    }

    /// Nothing determined the value: the guess, reported as assumed; without `assumeDefaults` the value is also
    /// recorded, and ``finish()`` refuses the build naming every such option.
    func undetermined<T: Sendable & Equatable>(
      _ guess: T, assumed why: String, _ message: String, option: String, tensor: String? = nil
    ) -> Configured<T> {
      if !options.assumeDefaults {
        missing.reasons.append((message + "; pass \(option) (assumeDefaults would take \(why))", option, tensor))
      }
      return Configured(guess, .assumed(why))
    }

    /// Refuses the build when values were undetermined and `assumeDefaults` is off; the error's option lists every
    /// option that resolves one, comma-separated.
    func finish() throws(GraftError) {
      guard let first = missing.reasons.first else { return }
      let count = missing.reasons.count
      throw GraftError(
        .invalidModel,
        count == 1
          ? first.message
          : "\(count) values are undetermined: "
            + missing.reasons.enumerated().map { "(\($0.offset + 1)) \($0.element.message)" }.joined(separator: " "),
        tensor: first.tensor.map(weights.fullName)
      ).resolved(by: missing.reasons.map(\.option).joined(separator: ","))
    }

    /// Refuses a value the tensors determine when a direct or named metadata source says otherwise.
    func confirm<T: Sendable & Equatable>(
      _ key: String, _ inferred: T, _ parse: (JSONValue) -> T?, what: String
    ) throws(GraftError) {
      guard let stated = try hints.lookup(key, option: key, expected: what, parse), !stated.source.isDefault,
        stated.value != inferred
      else { return }
      throw GraftError(
        .invalidModel,
        "\(stated.source.description) says \(key) = \(stated.value), but the tensors say \(inferred): the metadata "
          + "does not describe this checkpoint")
    }
  }

  /// Resolves the configuration from the tensors under the detected prefix, the metadata and the options.
  static func resolveConfiguration(
    _ weights: WeightLoader, metadata: JSONObject, options: Options
  ) throws(GraftError) -> Configuration {
    let hints = try ArchitectureHints(table: metadata, options: options)
    try refuseUnsupported(weights, hints: hints)
    let r = Resolver(weights: weights, options: options, hints: hints)
    typealias H = ArchitectureHints
    let patch = try weights.requireShape("patch_embed.proj.weight", expecting: "[embed_dim, in_chans, p, p]")
    guard patch.count == 4, patch.allSatisfy({ $0 > 0 }) else {
      throw GraftError(
        .invalidModel, "has shape \(patch); expected [embed_dim, in_chans, patch, patch]",
        tensor: weights.fullName("patch_embed.proj.weight"))
    }
    let d = patch[0]
    let fromPatch = ConfigurationSource.inferred("patch_embed.proj.weight \(patch)")
    try r.confirm("embed_dim", d, H.int, what: "an integer")
    try r.confirm("in_chans", patch[1], H.int, what: "an integer")
    try r.confirm("patch_size", [patch[2], patch[3]], H.size, what: "a size")
    let depth = try countBlocks(weights, width: d)
    try r.confirm("depth", depth, H.int, what: "an integer")
    let tokens = try prefixTokens(weights, width: d, options: options)
    try r.confirm("class_token", tokens.cls, H.bool, what: "a boolean")
    try r.confirm("reg_tokens", tokens.registers, H.int, what: "an integer")
    let qkNorm = weights.contains("blocks.0.attn.q_norm.weight")
    try r.confirm("qk_norm", qkNorm, H.bool, what: "a boolean")
    let normKind = try r.normKind()
    let mlp = try r.mlp(width: d)
    let classes = try numClasses(weights, width: d, distilled: tokens.distilled)
    try r.confirm("num_classes", classes.value, H.int, what: "an integer")
    let positions = try r.positions(width: d, patch: [patch[2], patch[3]], prefix: tokens.count)
    let fcNorm = weights.contains("fc_norm.weight")
    if let given = options.fcNorm, given != fcNorm {
      throw GraftError(
        .invalidModel, "fcNorm is given as \(given), but the checkpoint has \(fcNorm ? "an" : "no") fc_norm.weight"
      ).resolved(by: "fcNorm")
    }
    let pool = try r.globalPool(hasClassToken: tokens.cls, distilled: tokens.distilled, fcNorm: fcNorm)
    func present(_ name: String) -> Configured<Bool> {
      let has = weights.contains(name)
      return Configured(has, .inferred(has ? name : "no \(name)"))
    }
    let configuration = Configuration(
      embedDim: Configured(d, fromPatch),
      depth: Configured(depth, .inferred(depth == 1 ? "blocks.0" : "blocks.0 … blocks.\(depth - 1)")),
      heads: try r.heads(width: d), mlpKind: mlp.kind, mlpHidden: mlp.hidden,
      patchSize: Configured([patch[2], patch[3]], fromPatch), imageSize: positions.imageSize,
      inputSize: try r.inputSize(positions.imageSize, patch: [patch[2], patch[3]]),
      inChannels: Configured(patch[1], fromPatch),
      hasClassToken: Configured(tokens.cls, .inferred(tokens.cls ? "cls_token" : "no cls_token")),
      registerTokens: Configured(
        tokens.registers, .inferred(tokens.registers > 0 ? "reg_token [1, \(tokens.registers), \(d)]" : "no reg_token")),
      distilled: Configured(tokens.distilled, .inferred(tokens.distilled ? "dist_token" : "no dist_token")),
      hasPositionEmbedding: Configured(positions.present, .inferred(positions.present ? "pos_embed" : "no pos_embed")),
      noEmbedClass: positions.noEmbedClass, globalPool: pool,
      poolIncludePrefix: try r.poolIncludePrefix(pool: pool.value, prefixTokens: tokens.count),
      fcNorm: Configured(fcNorm, .inferred(fcNorm ? "fc_norm.weight" : "no fc_norm.weight")),
      finalNorm: present("norm.weight"), preNorm: present("norm_pre.weight"),
      embedNorm: present("patch_embed.norm.weight"), normKind: normKind, normEps: try r.normEps(),
      activation: try r.activation(mlpKind: mlp.kind), qkNorm: present("blocks.0.attn.q_norm.weight"),
      scaleAttnNorm: present("blocks.0.attn.norm.weight"), scaleMlpNorm: present("blocks.0.mlp.norm.weight"),
      layerScale: present("blocks.0.ls1.gamma"), numClasses: classes.configured)
    try r.finish()
    return configuration
  }

  /// Counts `blocks.N`, refusing gaps.
  static func countBlocks(_ weights: WeightLoader, width d: Int) throws(GraftError) -> Int {
    var depth = 0
    while weights.contains("blocks.\(depth).norm1.weight") || weights.contains("blocks.\(depth).attn.qkv.weight") {
      depth += 1
    }
    let stray = weights.table.names.first { name in
      guard name.hasPrefix(weights.prefix + "blocks.") else { return false }
      let rest = name.dropFirst(weights.prefix.count + 7)
      guard let index = Int(rest.prefix { $0 != "." }) else { return false }
      return index >= depth
    }
    if let stray {
      throw GraftError(
        .invalidModel, "block numbering has a gap: blocks 0..<\(depth) are complete but this tensor follows",
        tensor: stray)
    }
    guard depth > 0 else {
      throw GraftError(
        .invalidModel, "missing tensor; a ViT needs at least one block with 'norm1.weight' of shape [\(d)]",
        tensor: weights.fullName("blocks.0.norm1.weight"))
    }
    return depth
  }

  /// The prefix tokens: class, distillation, registers.
  static func prefixTokens(
    _ weights: WeightLoader, width d: Int, options: Options
  ) throws(GraftError) -> (cls: Bool, distilled: Bool, registers: Int, count: Int) {
    let cls = weights.contains("cls_token")
    if cls { _ = try weights.floats("cls_token", shape: [1, 1, d]) }
    let distilled = weights.contains("dist_token") || weights.contains("head_dist.weight")
    if distilled {
      guard cls, weights.contains("dist_token") else {
        throw GraftError(
          .invalidModel, "a distilled DeiT needs cls_token and dist_token [1, 1, \(d)] beside head_dist",
          tensor: weights.fullName(cls ? "dist_token" : "cls_token"))
      }
      _ = try weights.floats("dist_token", shape: [1, 1, d])
    }
    var registers = 0
    if let r = weights.shape("reg_token") {
      guard r.count == 3, r[0] == 1, r[2] == d else {
        throw GraftError(
          .invalidModel, "has shape \(r); expected [1, reg_tokens, \(d)]", tensor: weights.fullName("reg_token"))
      }
      registers = r[1]
    }
    if distilled && registers > 0 {
      throw GraftError(
        .unsupported, "register tokens with a distillation token (timm has no such DeiT) are not supported",
        tensor: weights.fullName("reg_token"))
    }
    let count = (cls ? 1 : 0) + (distilled ? 1 : 0) + registers
    if let given = options.numPrefixTokens, given != count {
      throw GraftError(
        .invalidModel,
        "numPrefixTokens is given as \(given), but the checkpoint has \(count) (class \(cls ? 1 : 0), distillation "
          + "\(distilled ? 1 : 0), registers \(registers))"
      ).resolved(by: "numPrefixTokens")
    }
    return (cls, distilled, registers, count)
  }

  /// The head's classes from `head.weight` (and `head_dist.weight`, which must match).
  static func numClasses(
    _ weights: WeightLoader, width d: Int, distilled: Bool
  ) throws(GraftError) -> (value: Int, configured: Configured<Int>) {
    guard let h = weights.shape("head.weight") else {
      return (0, Configured(0, .inferred("no head.weight")))
    }
    guard h.count == 2, h[1] == d else {
      throw GraftError(
        .invalidModel, "has shape \(h); expected [num_classes, \(d)]", tensor: weights.fullName("head.weight"))
    }
    if distilled, let hd = weights.shape("head_dist.weight"), hd != h {
      throw GraftError(
        .invalidModel, "has shape \(hd); expected \(h) like head.weight", tensor: weights.fullName("head_dist.weight"))
    }
    return (h[0], Configured(h[0], .inferred("head.weight \(h)")))
  }
}

extension ConfigurationSource {
  /// Whether the value is timm's constructor default rather than something a source stated.
  var isDefault: Bool { if case .metadata(let s) = self { s.hasPrefix("timm default") } else { false } }
}
