public import GraftCore

/// What ``MrDETRStrip`` removed and kept.
public struct MrDETRStripReport: Sendable {
  /// One removed tensor.
  public struct Removed: Sendable, Hashable {
    /// Its name.
    public var name: String
    /// Its route.
    public var route: MrDETRRoute
    /// Its shape.
    public var shape: [Int]
    /// Its dtype.
    public var dtype: DType
    /// Values it stored (0 for an alias).
    public var parameters: Int
    /// Bytes it stored (0 for an alias).
    public var bytes: Int
    /// Whether it was an alias of another tensor.
    public var isAlias: Bool
  }

  /// One alias pair.
  public struct Alias: Sendable, Hashable {
    /// The alias name.
    public var alias: String
    /// The name whose storage it shares.
    public var target: String
  }

  /// Per-route totals.
  public struct RouteTotal: Sendable, Hashable {
    /// The route.
    public var route: MrDETRRoute
    /// Tensors removed.
    public var tensors: Int
    /// Values removed.
    public var parameters: Int
    /// Bytes removed.
    public var bytes: Int
  }

  /// The variant used.
  public var variant: MrDETRVariant
  /// Whether it was detected rather than given.
  public var variantDetected = false
  /// Where the weights came from: `model`, `ema_state` or `state dict`.
  public var source: String
  /// Container entries not carried over (`trainer`, `iteration`, the unused one of model / EMA).
  public var containerEntriesDropped: [String] = []
  /// Tensors in the input state dict (aliases included).
  public var inputTensors = 0
  /// Values in the input state dict, aliases counted once.
  public var inputParameters = 0
  /// Removed tensors in input order.
  public var removed: [Removed] = []
  /// Values removed, aliases counted once.
  public var removedParameters = 0
  /// Bytes removed, aliases counted once.
  public var removedBytes = 0
  /// Tensors kept (aliases included).
  public var keptTensors = 0
  /// Values kept, aliases counted once.
  public var keptParameters = 0
  /// Bytes kept, aliases counted once.
  public var keptBytes = 0
  /// Kept tensors verified to be the input's bytes (same storage, dtype and shape).
  public var keptByteIdentical = 0
  /// Kept tensors by manifest group.
  public var keptGroups: [String: Int] = [:]
  /// Aliases in the output.
  public var aliasesKept: [Alias] = []
  /// Head aliases re-added because the input (an EMA state) left them out.
  public var aliasesRestored: [Alias] = []
  /// Names renamed for the detrex layout.
  public var renamed: [(from: String, to: String)] = []
  /// Tensors in neither manifest list that were kept (`--keep-unknown`).
  public var unknownKept: [String] = []
  /// `norm_o2o` tensors in the input (the keys a naive `o2o|o2m` pattern would wrongly remove).
  public var negativeCheckKeys = 0
  /// The same primary post-self-attention norms present in the output (under `norms.0` in the detrex layout).
  public var negativeCheckKeysKept = 0
  /// Remarks for the user.
  public var notes: [String] = []

  /// Creates an empty report.
  public init(variant: MrDETRVariant, source: String) {
    self.variant = variant
    self.source = source
  }

  /// Removed totals per route, in route order.
  public var removedByRoute: [RouteTotal] {
    var totals: [MrDETRRoute: RouteTotal] = [:]
    for r in removed {
      totals[r.route, default: RouteTotal(route: r.route, tensors: 0, parameters: 0, bytes: 0)].tensors += 1
      totals[r.route]?.parameters += r.parameters
      totals[r.route]?.bytes += r.bytes
    }
    return totals.values.sorted { $0.route < $1.route }
  }

  /// The report as human-readable lines.
  public var lines: [String] {
    var out: [String] = []
    out.append(
      "Mr. DETR \(variant.rawValue)\(variantDetected ? " (detected)" : "") from \(source): \(inputTensors) tensors, "
        + "\(grouped(inputParameters)) parameters")
    for c in containerEntriesDropped { out.append("  dropped container entry: \(c)") }
    out.append("removed \(removed.count) tensors, \(grouped(removedParameters)) parameters, \(mib(removedBytes)):")
    for t in removedByRoute {
      out.append("  \(t.route.rawValue): \(t.tensors) tensors, \(grouped(t.parameters)) parameters, \(mib(t.bytes))")
    }
    out.append(
      "kept \(keptTensors) tensors (\(aliasesKept.count) aliases), \(grouped(keptParameters)) parameters, "
        + "\(mib(keptBytes)); \(keptByteIdentical)/\(keptTensors) byte-identical to the input")
    out.append("primary post-self-attention norms (norm_o2o) kept: \(negativeCheckKeysKept)/\(negativeCheckKeys)")
    if !aliasesRestored.isEmpty { out.append("restored \(aliasesRestored.count) head aliases missing from \(source)") }
    if !renamed.isEmpty { out.append("renamed \(renamed.count) tensors to the stock detrex decoder layout") }
    if !unknownKept.isEmpty { out.append("kept \(unknownKept.count) tensors in neither manifest list") }
    for n in notes { out.append("note: \(n)") }
    return out
  }

  /// The report as JSON.
  public var json: JSONValue {
    var o = JSONObject()
    o["variant"] = .string(variant.rawValue)
    o["variant_detected"] = .bool(variantDetected)
    o["source"] = .string(source)
    o["container_entries_dropped"] = .array(containerEntriesDropped.map(JSONValue.string))
    o["input_tensors"] = .integer(inputTensors)
    o["input_parameters"] = .integer(inputParameters)
    o["removed_tensors"] = .integer(removed.count)
    o["removed_parameters"] = .integer(removedParameters)
    o["removed_bytes"] = .integer(removedBytes)
    o["removed_by_route"] = .array(
      removedByRoute.map { t in
        var e = JSONObject()
        e["route"] = .string(t.route.rawValue)
        e["tensors"] = .integer(t.tensors)
        e["parameters"] = .integer(t.parameters)
        e["bytes"] = .integer(t.bytes)
        return .object(e)
      })
    o["removed"] = .array(
      removed.map { r in
        var e = JSONObject()
        e["name"] = .string(r.name)
        e["route"] = .string(r.route.rawValue)
        e["shape"] = .array(r.shape.map(JSONValue.integer))
        e["parameters"] = .integer(r.parameters)
        e["alias"] = .bool(r.isAlias)
        return .object(e)
      })
    o["kept_tensors"] = .integer(keptTensors)
    o["kept_parameters"] = .integer(keptParameters)
    o["kept_bytes"] = .integer(keptBytes)
    o["kept_byte_identical"] = .integer(keptByteIdentical)
    o["aliases_kept"] = .array(aliasesKept.map { .array([.string($0.alias), .string($0.target)]) })
    o["aliases_restored"] = .array(aliasesRestored.map { .array([.string($0.alias), .string($0.target)]) })
    o["renamed"] = .array(renamed.map { .array([.string($0.from), .string($0.to)]) })
    o["unknown_kept"] = .array(unknownKept.map(JSONValue.string))
    o["negative_check_norm_o2o"] = .array([.integer(negativeCheckKeysKept), .integer(negativeCheckKeys)])
    o["notes"] = .array(notes.map(JSONValue.string))
    return .object(o)
  }

  private func grouped(_ n: Int) -> String {
    let digits = Array(String(n))
    var out = ""
    for (i, c) in digits.enumerated() {
      if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
      out.append(c)
    }
    return out
  }

  private func mib(_ bytes: Int) -> String {
    let v = Double(bytes) / 1_048_576
    let scaled = (v * 10).rounded() / 10
    return "\(scaled) MiB"
  }
}
