public import GraftCore

/// Options for ``MrDETRStrip``.
public struct MrDETRStripOptions: Sendable {
  /// The variant; `nil` detects it from the keys.
  public var variant: MrDETRVariant?
  /// Also remove DINO/Align's training-only CDN embedding `label_enc.weight`.
  public var dropLabelEncoder = false
  /// The naming of the output's decoder layers.
  public var layout: MrDETRLayout = .mrdetr
  /// Take `ema_state` instead of `model` from a training checkpoint.
  public var useEMA = false
  /// Keep tensors in neither manifest list instead of refusing the checkpoint.
  public var keepUnknown = false
  /// Creates default options (auto-detected variant, Mr.DETR naming, model weights).
  public init() {}
}

/// A stripped state dict and what was done to get it.
public struct MrDETRStripResult: Sendable {
  /// The primary-route state dict.
  public var table: TensorTable
  /// The report.
  public var report: MrDETRStripReport
}

/// Removes Mr.DETR's training-only auxiliary routes (Route-1 `linear_sep`, Route-3 instruction tokens, `norm_o2m`
/// and encoder proposal heads, optionally DINO's CDN `label_enc`) and keeps the primary route byte for byte.
///
/// The pass is driven by ``MrDETRManifest``: every tensor must be in its REMOVE or KEEP list. Kept tensors are
/// passed through untouched (same byte source), so they are byte-identical by construction; the report checks it.
/// The heads' decoder aliases (`transformer.decoder.class_embed.N.*` sharing storage with `class_embed.N.*`) stay
/// aliases, and removed parameters are counted over stored tensors only.
public enum MrDETRStrip {
  /// Strips a flattened training container (`model.…`, `ema_state.…`) or a plain state dict.
  public static func run(
    _ table: TensorTable, options: MrDETRStripOptions = .init()
  ) throws(GraftError)
    -> MrDETRStripResult
  {
    if DetectronTrainingCheckpoint.isContainer(table) {
      return try run(DetectronTrainingCheckpoint(flattened: table), options: options)
    }
    if options.useEMA {
      throw GraftError(
        .invalidArgument,
        "the EMA weights need a detectron2 training checkpoint with an 'ema_state' entry; this is a plain state dict")
    }
    return try strip(table, source: "state dict", dropped: [], options: options)
  }

  /// Strips the `model` (or, with ``MrDETRStripOptions/useEMA``, the `ema_state`) of a training checkpoint.
  public static func run(
    _ checkpoint: DetectronTrainingCheckpoint, options: MrDETRStripOptions = .init()
  )
    throws(GraftError) -> MrDETRStripResult
  {
    var dropped = checkpoint.otherEntries.map { "\($0.name) (\($0.tensors) tensors)" }
    if options.useEMA {
      guard let ema = checkpoint.emaState else {
        throw GraftError(
          .invalidArgument,
          "the EMA weights were asked for, but this checkpoint has no 'ema_state' (train.model_ema.enabled was off); "
            + "its top-level entries "
            + "are model" + checkpoint.otherEntries.map { ", " + $0.name }.joined())
      }
      dropped.insert("model (\(checkpoint.model.count) tensors, replaced by ema_state)", at: 0)
      var result = try strip(ema, source: "ema_state", dropped: dropped, options: options)
      result.table.metadata = checkpoint.model.metadata
      return result
    }
    if let ema = checkpoint.emaState {
      dropped.append("ema_state (\(ema.count) tensors; taken instead of model with useEMA)")
    }
    return try strip(checkpoint.model, source: "model", dropped: dropped, options: options)
  }

  private static func strip(
    _ input: TensorTable, source: String, dropped: [String], options: MrDETRStripOptions
  ) throws(GraftError) -> MrDETRStripResult {
    var table = input
    let names = table.names
    try checkIsMrDETR(names)
    let detected = MrDETRVariant.detect(names)
    let variant = options.variant ?? detected.variant
    try checkVariant(variant, detected: detected.variant, names: names)
    let manifest = MrDETRManifest(variant: variant, dropLabelEncoder: options.dropLabelEncoder)

    var report = MrDETRStripReport(variant: variant, source: source)
    report.variantDetected = options.variant == nil
    report.containerEntriesDropped = dropped
    if options.variant == nil && detected.ambiguous {
      report.notes.append(
        "dino and align checkpoints have identical keys; reported as dino (set the variant to align if it is one)")
    }
    report.aliasesRestored = try restoreHeadAliases(&table)

    var unknown: [String] = []
    var removedNames = Set<String>()
    for e in table.entries {
      switch manifest.classify(e.name) {
      case .remove(let route):
        removedNames.insert(e.name)
        report.removed.append(
          .init(
            name: e.name, route: route, shape: e.tensor.shape, dtype: e.tensor.dtype,
            parameters: e.aliasOf == nil ? e.tensor.elementCount : 0,
            bytes: e.aliasOf == nil ? e.tensor.byteCount : 0, isAlias: e.aliasOf != nil))
      case .keep(let group):
        report.keptGroups[group, default: 0] += 1
      case .unknown:
        unknown.append(e.name)
      }
    }
    if !unknown.isEmpty {
      guard options.keepUnknown else {
        let shown = unknown.prefix(8).joined(separator: ", ")
        throw GraftError(
          .invalidModel,
          "\(unknown.count) tensors are in neither the REMOVE nor the KEEP list of the \(variant.rawValue) manifest "
            + "(\(shown)\(unknown.count > 8 ? ", …" : "")); check the variant, or keep them with keepUnknown",
          tensor: unknown[0])
      }
      report.unknownKept = unknown
    }
    if variant.hasLabelEncoder && !options.dropLabelEncoder, let t = table["label_enc.weight"] {
      report.notes.append(
        "kept label_enc.weight \(t.shape) (\(t.elementCount) values): the CDN embedding is training-only; "
          + "dropLabelEncoder removes it")
    }
    guard !report.removed.isEmpty else {
      throw GraftError(
        .invalidModel,
        "already stripped: no auxiliary-route tensors (instruction_o2m, norm_o2m, linear_sep, class_embed_o2m_encoder, "
          + "bbox_embed_enc_o2m\(variant.hasLabelEncoder ? ", label_enc with dropLabelEncoder" : "")) in this "
          + "\(variant.rawValue) checkpoint; its \(table.count) tensors are all primary-route")
    }
    let storagesRemoved = Set(
      table.entries.filter { removedNames.contains($0.name) }.map { $0.tensor.bytes.storageIdentity })
    for e in table.entries where !removedNames.contains(e.name) {
      if storagesRemoved.contains(e.tensor.bytes.storageIdentity) {
        throw GraftError(
          .invalidModel,
          "shares storage with an auxiliary-route tensor that is being removed; refusing to guess which route owns it",
          tensor: e.name)
      }
    }

    let parametersBefore = table.parameterCount
    let bytesBefore = table.storedByteCount
    report.inputTensors = table.count
    report.inputParameters = parametersBefore
    report.negativeCheckKeys = names.filter { $0.contains(".norm_o2o.") }.count
    table.removeAll { removedNames.contains($0.name) }
    report.removedParameters = parametersBefore - table.parameterCount
    report.removedBytes = bytesBefore - table.storedByteCount

    let before = Dictionary(table.entries.map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a })
    if options.layout == .detrex {
      report.renamed = try MrDETRCanonical.rename(&table)
    }
    let renamedFrom = Dictionary(report.renamed.map { ($0.to, $0.from) }, uniquingKeysWith: { a, _ in a })
    for e in table.entries {
      let original = renamedFrom[e.name] ?? e.name
      guard let t = before[original], t.bytes.storageIdentity == e.tensor.bytes.storageIdentity,
        t.dtype == e.tensor.dtype, t.shape == e.tensor.shape
      else {
        throw GraftError(.invalidModel, "kept tensor is not the input's bytes (internal error)", tensor: e.name)
      }
      report.keptByteIdentical += 1
    }
    report.keptTensors = table.count
    report.keptParameters = table.parameterCount
    report.keptBytes = table.storedByteCount
    report.aliasesKept = table.aliases.map { MrDETRStripReport.Alias(alias: $0.alias, target: $0.target) }
    report.negativeCheckKeysKept =
      table.names.filter {
        options.layout == .detrex
          ? $0.hasPrefix("transformer.decoder.layers.") && $0.contains(".norms.0.") : $0.contains(".norm_o2o.")
      }.count
    if options.layout == .detrex {
      report.notes.append(
        "detrex layout: stock detrex two-stage lacks mixed_selection/look_forward_twice, so load it into a model "
          + "built with those options")
    }
    return MrDETRStripResult(table: table, report: report)
  }

  /// Refuses checkpoints without Mr.DETR's decoder signature, naming what was found instead.
  static func checkIsMrDETR(_ names: [String]) throws(GraftError) {
    let hasDecoder = names.contains { $0.hasPrefix("transformer.decoder.layers.") }
    let hasO2O = names.contains { $0.hasPrefix("transformer.decoder.layers.") && $0.contains(".norm_o2o.") }
    let hasAux = names.contains { $0.contains(".instruction_o2m") || $0.contains(".linear_sep.") }
    if hasO2O || hasAux { return }
    if hasDecoder && names.contains(where: { $0.hasPrefix("transformer.decoder.layers.0.norms.2.") }) {
      throw GraftError(
        .invalidModel,
        "not a Mr. DETR checkpoint: the decoder uses the stock detrex layout (norms.0..2, no norm_o2o), so it is a "
          + "plain Deformable-DETR or an already stripped and canonicalised Mr. DETR; nothing to strip",
        tensor: "transformer.decoder.layers.0.norms.2.weight")
    }
    let sample = names.prefix(3).joined(separator: ", ")
    throw GraftError(
      .invalidModel,
      "not a Mr. DETR checkpoint: expected decoder keys like transformer.decoder.layers.0.attentions.0.norm_o2o.weight "
        + "(\(names.count) tensors, starting \(sample.isEmpty ? "with none" : sample))")
  }

  private static func checkVariant(
    _ variant: MrDETRVariant, detected: MrDETRVariant, names: [String]
  )
    throws(GraftError)
  {
    let hasLabelEnc = names.contains("label_enc.weight")
    if hasLabelEnc && !variant.hasLabelEncoder {
      throw GraftError(
        .invalidArgument,
        "variant \(variant.rawValue) has no label_enc, but the checkpoint does; it is a dino or align checkpoint",
        tensor: "label_enc.weight")
    }
    if detected == .insseg && variant != .insseg {
      throw GraftError(
        .invalidArgument, "the checkpoint has a mask head (mask_head.*), so its variant is insseg, not \(variant)")
    }
    if variant == .insseg && detected != .insseg {
      throw GraftError(.invalidArgument, "variant insseg expects mask_head.* tensors; the checkpoint has none")
    }
  }

  /// Re-adds head aliases that an EMA state (built from deduplicated `named_parameters`) leaves out.
  ///
  /// With box refine `class_embed.N` and `transformer.decoder.class_embed.N` (likewise `bbox_embed`) are one module,
  /// so when only one name is present the other is added as its alias. Returns the aliases added.
  public static func restoreHeadAliases(_ table: inout TensorTable) throws(GraftError) -> [MrDETRStripReport.Alias] {
    var restored: [MrDETRStripReport.Alias] = []
    let decoderPrefix = "transformer.decoder."
    for name in table.names {
      let other: String
      if name.hasPrefix(decoderPrefix + "class_embed.") || name.hasPrefix(decoderPrefix + "bbox_embed.") {
        other = String(name.dropFirst(decoderPrefix.count))
      } else if name.hasPrefix("class_embed.") || name.hasPrefix("bbox_embed.") {
        other = decoderPrefix + name
      } else {
        continue
      }
      if !table.contains(other) {
        try table.appendAlias(other, of: name)
        restored.append(.init(alias: other, target: table.entry(other)?.aliasOf ?? name))
      }
    }
    return restored
  }
}
