public import GraftCore
public import GraftEngine

/// The result of comparing two checkpoints' forward passes: one row per compared tensor.
public struct CheckReport: Sendable {
  /// One compared tensor.
  public struct Row: Sendable {
    /// `output`, `pooled` or `block.<i>`.
    public var name: String
    /// The shape before (`nil` when absent).
    public var shapeBefore: [Int]?
    /// The shape after (`nil` when absent).
    public var shapeAfter: [Int]?
    /// `max |after − before|`.
    public var maxAbs: Double
    /// `max |after − before| / max(|before|, 1e-3 · max|before|)`: element-wise, floored so near-zero entries do not
    /// dominate.
    public var maxRel: Double
    /// The cosine similarity of the flattened tensors.
    public var cosine: Double
    /// `max|before|`, the scale the tolerance is relative to.
    public var scale: Double
    /// The fraction of samples whose arg-max class agrees (outputs `[N, classes]` only).
    public var argmaxAgreement: Double?
    /// Whether `maxAbs ≤ atol + rtol · scale`.
    public var passed: Bool
    /// Why a row failed structurally (shapes or depth differ, non-finite values).
    public var note: String?
  }

  /// The architecture both checkpoints were built as.
  public var architecture: ModelArchitecture
  /// The inferred configuration of the checkpoint before.
  public var configurationBefore: JSONValue
  /// The inferred configuration of the checkpoint after.
  public var configurationAfter: JSONValue
  /// How the input was made.
  public var input: String
  /// The absolute tolerance used.
  public var atol: Double
  /// The relative tolerance used.
  public var rtol: Double
  /// The compared tensors, outputs first.
  public var rows: [Row]
  /// Seconds of the forward pass before.
  public var secondsBefore: Double
  /// Seconds of the forward pass after.
  public var secondsAfter: Double

  /// Whether every row is within tolerance.
  public var passed: Bool { rows.allSatisfy(\.passed) }

  /// A fixed-width table for terminals, ending with a PASS/FAIL line.
  public func renderTable() -> String {
    var lines: [String] = []
    lines.append(
      "input: \(input); tolerance: max abs ≤ \(Format.scientific(atol)) + \(Format.scientific(rtol)) · max|before|")
    let header = [
      Format.pad("tensor", 10), Format.pad("shape", 16), Format.padLeft("max abs", 11), Format.padLeft("max rel", 11),
      Format.padLeft("cosine", 12),
      Format.padLeft("argmax", 7), "  result",
    ]
    lines.append(header.joined(separator: " "))
    for r in rows {
      let shape = (r.shapeBefore ?? r.shapeAfter ?? []).map(String.init).joined(separator: "×")
      var cells = [
        Format.pad(r.name, 10), Format.pad(shape, 16), Format.padLeft(Format.scientific(r.maxAbs), 11),
        Format.padLeft(Format.scientific(r.maxRel), 11),
        Format.padLeft(r.cosine.isNaN ? "-" : Format.fixed(r.cosine, digits: 8), 12),
        Format.padLeft(r.argmaxAgreement.map { Format.fixed($0 * 100, digits: 0) + "%" } ?? "-", 7),
        r.passed ? "  ok" : "  FAIL",
      ]
      if let note = r.note { cells.append("(\(note))") }
      lines.append(cells.joined(separator: " "))
    }
    let failed = rows.filter { !$0.passed }.count
    lines.append(
      passed
        ? "PASS: \(rows.count) tensors within tolerance" : "FAIL: \(failed) of \(rows.count) tensors out of tolerance")
    return lines.joined(separator: "\n")
  }

  /// The report as JSON (non-finite numbers as strings, since JSON has none).
  public var json: JSONValue {
    func number(_ v: Double) -> JSONValue { v.isFinite ? .double(v) : .string(String(v)) }
    let rowValues: [JSONValue] = rows.map { r in
      var o = JSONObject()
      o["tensor"] = .string(r.name)
      o["shape_before"] = r.shapeBefore.map { .array($0.map(JSONValue.integer)) } ?? .null
      o["shape_after"] = r.shapeAfter.map { .array($0.map(JSONValue.integer)) } ?? .null
      o["max_abs"] = number(r.maxAbs)
      o["max_rel"] = number(r.maxRel)
      o["cosine"] = number(r.cosine)
      o["scale"] = number(r.scale)
      o["argmax_agreement"] = r.argmaxAgreement.map(number) ?? .null
      o["passed"] = .bool(r.passed)
      if let note = r.note { o["note"] = .string(note) }
      return .object(o)
    }
    var o = JSONObject()
    o["passed"] = .bool(passed)
    o["architecture"] = .string(architecture.rawValue)
    o["input"] = .string(input)
    o["atol"] = .double(atol)
    o["rtol"] = .double(rtol)
    o["seconds_before"] = .double(secondsBefore)
    o["seconds_after"] = .double(secondsAfter)
    o["configuration_before"] = configurationBefore
    o["configuration_after"] = configurationAfter
    o["rows"] = .array(rowValues)
    return .object(o)
  }
}
