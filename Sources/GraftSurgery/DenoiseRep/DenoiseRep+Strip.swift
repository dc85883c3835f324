public import GraftCore

extension DenoiseRep {
  /// What ``strip(_:tool:)`` removed.
  public struct StripReport: Sendable {
    /// The wrapped layers found.
    public var layers: [Layer]
    /// The names removed, in table order.
    public var removed: [String]
    /// The bytes of the removed tensors (aliases counted once).
    public var removedBytes: Int
    /// The number of tensors kept.
    public var kept: Int
    /// The bytes of the kept tensors (aliases counted once).
    public var keptBytes: Int

    /// The report as JSON.
    public var json: JSONValue {
      var o = JSONObject()
      o["operation"] = .string(DenoiseRep.stripOperation)
      o["layers"] = .array(layers.map { .string($0.prefix) })
      o["removed"] = .array(removed.map(JSONValue.string))
      o["removed_bytes"] = .integer(removedBytes)
      o["kept"] = .integer(kept)
      o["kept_bytes"] = .integer(keptBytes)
      return .object(o)
    }
  }

  /// Drops every wrapper's `dm.*`, `time_mlp.*`, `teacher.*` and schedule buffers, keeping all other tensors as they
  /// are (same byte sources, so a writer copies them byte for byte).
  ///
  /// This is the pass for released DenoiseRep checkpoints, which every public training script fused before saving:
  /// their `weight`/`bias` already hold the fused values.
  ///
  /// - Throws: `invalidModel` when the table has no DenoiseRep leftovers or leftovers have no wrapped weight.
  public static func strip(
    _ table: TensorTable, tool: String = "graft"
  ) throws(GraftError)
    -> (table: TensorTable, report: StripReport)
  {
    let layers = try findLayers(in: table)
    guard !layers.isEmpty else {
      throw GraftError(
        .invalidModel,
        "no DenoiseRep leftovers found: expected '<layer>.dm.*', '<layer>.time_mlp.*' or the schedule buffers "
          + "('<layer>.alphas', …) next to a layer's weight; nothing to strip")
    }
    let drop = Set(layers.flatMap(\.leftovers))
    var removed: [String] = []
    var removedBytes = 0
    for e in table.entries where drop.contains(e.name) {
      removed.append(e.name)
      if e.aliasOf == nil { removedBytes += e.tensor.byteCount }
    }
    var out = table
    out.removeAll { drop.contains($0.name) }
    var parameters = JSONObject()
    parameters["layers"] = .integer(layers.count)
    parameters["removed_tensors"] = .integer(removed.count)
    parameters["removed_bytes"] = .integer(removedBytes)
    out.lineage.append(LineageRecord(operation: stripOperation, tool: tool, parameters: .object(parameters)))
    let report = StripReport(
      layers: layers, removed: removed, removedBytes: removedBytes, kept: out.count, keptBytes: out.storedByteCount)
    return (out, report)
  }
}
