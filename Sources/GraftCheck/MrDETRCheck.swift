public import GraftCore
public import GraftEngine
public import GraftSurgery

/// Proves that a Mr.DETR strip left the primary route unchanged (reference: `mrdetr.md` §6).
///
/// Three checks: the stripped weights load through the engine's strict primary-route manifest (0 missing,
/// 0 unexpected) while the full weights give 0 missing and only auxiliary-route extras; every kept tensor hashes
/// the same as its source (aliases preserved); and the engine run on the full and the stripped weights over the
/// same feature maps gives identical outputs, max|Δ| = 0.
public enum MrDETRCheck {
  /// The table's columns: the measured figure of each check.
  public static let columns: [CheckReport.Column] = [.init("value", "value", width: 10)]

  /// Verifies `stripped` against `full`; `heads` is the attention head count (8 in every released config).
  ///
  /// `features` are neck outputs `[width × H × W]` per level; by default seeded random maps with enough tokens
  /// for the two-stage top-k are used. Failures are rows of the report, never thrown. The `engine` row's value is
  /// the largest absolute difference between the full and stripped outputs (0 when identical).
  public static func verify(
    full input: TensorTable, stripped: TensorTable, layout: MrDETRLayout = .mrdetr, heads: Int = 8,
    features: [FloatTensor]? = nil
  ) -> CheckReport {
    var report = CheckReport(
      kind: "mrdetr", header: ["Mr.DETR strip: the primary route must be untouched"], columns: columns)
    // An EMA state lacks the heads' second names; the model it is applied to has them, so the reference does too.
    var full = input
    if let restored = try? MrDETRStrip.restoreHeadAliases(&full), !restored.isEmpty {
      report.header.append("reference: restored \(restored.count) head aliases absent from the source (an EMA state)")
    }
    func original(_ name: String) -> String { layout == .detrex ? MrDETRCanonical.originalName(of: name) : name }
    do {
      let strippedConfig = try DeformableDETRConfig.infer(from: stripped, heads: heads)
      var fullConfig = strippedConfig
      fullConfig.naming = .mrdetr
      let strippedCheck = DeformableDETRManifestCheck(stripped, config: strippedConfig)
      let fullCheck = DeformableDETRManifestCheck(full, config: fullConfig)
      let manifest = MrDETRManifest(variant: MrDETRVariant.detect(full.names).variant, dropLabelEncoder: true)
      let auxOnly = fullCheck.unexpected.allSatisfy { isAuxiliary($0, manifest) }
      let strictOK = strippedCheck.isStrictClean && fullCheck.missing.isEmpty && fullCheck.misshapen.isEmpty && auxOnly
      report.rows.append(
        CheckReport.Row(
          "strict manifest", strictOK ? .passed : .failed,
          ["value": .integer(strippedCheck.missing.count + strippedCheck.unexpected.count)],
          note:
            "\(strippedConfig.manifest.count) primary-route keys: stripped \(strippedCheck.missing.count) missing / "
            + "\(strippedCheck.unexpected.count) unexpected; full \(fullCheck.missing.count) missing / "
            + "\(fullCheck.unexpected.count) unexpected"
            + (auxOnly ? ", all auxiliary-route" : ", NOT all auxiliary-route: \(fullCheck.unexpected.prefix(3))")))

      var identical = 0
      var different: [String] = []
      for e in stripped.entries {
        // A head alias restored for an EMA state has no source of its own; its target does.
        let t = full[original(e.name)] ?? e.aliasOf.flatMap { full[original($0)] }
        guard let t, t.dtype == e.tensor.dtype, t.shape == e.tensor.shape, try t.contentHash() == e.tensor.contentHash()
        else {
          different.append(e.name)
          continue
        }
        identical += 1
      }
      let fullAliases = full.aliases.filter { !isAuxiliary($0.alias, manifest) }
      let kept = fullAliases.filter { pair in
        stripped.names.contains { original($0) == pair.alias && stripped.entry($0)?.aliasOf != nil }
      }.count
      let bytesOK = different.isEmpty && kept == fullAliases.count
      report.rows.append(
        CheckReport.Row(
          "kept bytes", bytesOK ? .passed : .failed, ["value": .integer(different.count)],
          note: "\(identical)/\(stripped.count) kept tensors byte-identical (xxh64), "
            + "\(kept)/\(fullAliases.count) aliases preserved (\(stripped.aliases.count) in the output)"
            + (different.isEmpty ? "" : "; differ: \(different.prefix(3).joined(separator: ", "))")))

      let maps = features ?? syntheticFeatures(config: strippedConfig)
      let a = try DeformableDETR(full, config: fullConfig, strict: false).forward(features: maps)
      let b = try DeformableDETR(stripped, config: strippedConfig, strict: true).forward(features: maps)
      let delta = maxDifference(a, b)
      let shapes = maps.map { "\($0.shape[1])×\($0.shape[2])" }.joined(separator: ", ")
      var note =
        "full vs stripped on features [\(shapes)] over memory, proposals, per-layer logits and boxes, fused logits "
        + "and \(b.detections.count) detections"
      if let top = b.detections.first {
        note += "; top detection: class \(top.label), score \(top.score)"
      }
      report.rows.append(
        CheckReport.Row(
          "engine max|Δ|", delta == 0 ? .passed : .failed, ["value": .number(Double(delta), .scientific)], note: note))
    } catch {
      report.rows.append(CheckReport.Row("verification", .failed, note: "\(error)"))
    }
    return report
  }

  /// Seeded random feature maps (3:4 aspect, halving per level) with at least `queries` tokens.
  public static func syntheticFeatures(config: DeformableDETRConfig, seed: UInt64 = 0x6D72_6465_7472) -> [FloatTensor] {
    var s = 1
    func dims(_ l: Int) -> (Int, Int) { (max(1, (3 * s) >> l), max(1, (4 * s) >> l)) }
    while (0..<config.levels).reduce(0, { $0 + dims($1).0 * dims($1).1 }) < config.queries { s += 1 }
    var rng = SplitMix64(seed: seed)
    return (0..<config.levels).map { l in
      let (h, w) = dims(l)
      let values = (0..<(config.embedDim * h * w)).map { _ in rng.nextSignedUnitFloat() }
      return (try? FloatTensor(shape: [config.embedDim, h, w], values: values)) ?? FloatTensor(zeros: [0])
    }
  }

  private static func isAuxiliary(_ name: String, _ manifest: MrDETRManifest) -> Bool {
    if case .remove = manifest.classify(name) { return true }
    return false
  }

  /// The largest |a − b| over every output; infinities at the same place count as equal, NaN as a difference.
  static func maxDifference(_ a: DeformableDETROutput, _ b: DeformableDETROutput) -> Float {
    var worst: Float = 0
    func compare(_ x: [Float], _ y: [Float]) {
      guard x.count == y.count else {
        worst = .infinity
        return
      }
      for (p, q) in zip(x, y) where p.bitPattern != q.bitPattern {
        let d = abs(p - q)
        worst = max(worst, d.isNaN ? .infinity : d)
      }
    }
    compare(a.memory.values, b.memory.values)
    compare(a.proposalScores, b.proposalScores)
    compare(a.proposalBoxes, b.proposalBoxes)
    compare(a.initialReferences, b.initialReferences)
    for (x, y) in zip(a.layerLogits, b.layerLogits) { compare(x, y) }
    for (x, y) in zip(a.layerBoxes, b.layerBoxes) { compare(x, y) }
    compare(a.fusedLogits, b.fusedLogits)
    compare(a.boxes, b.boxes)
    compare(a.detections.map(\.score), b.detections.map(\.score))
    compare(a.detections.flatMap(\.box), b.detections.flatMap(\.box))
    if a.selectedTokens != b.selectedTokens || a.detections.map(\.label) != b.detections.map(\.label) {
      worst = max(worst, .infinity)
    }
    return worst
  }
}
