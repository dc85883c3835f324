public import GraftCore

/// The result of ``MoECheck/verify(dense:moe:manifest:teacher:options:)``: one row per check.
public struct MoECheckReport: Sendable {
  /// What a row claims.
  public enum Kind: String, Sendable {
    /// Keys, bytes, index sets.
    case structural
    /// Exact by construction: must match within tolerance.
    case exact
    /// A predicted non-dense result (such as `y = (Σg)·f`), checked within tolerance.
    case predicted
    /// Cannot reproduce the dense model; the value says how far it is.
    case report
  }

  /// One check.
  public struct Row: Sendable {
    /// The check's name.
    public var name: String
    /// What it claims.
    public var kind: Kind
    /// The measured value (a count for structural rows, a relative error otherwise).
    public var value: Double
    /// The limit the value must stay under, if any.
    public var limit: Double?
    /// Whether it passed (reports always pass).
    public var passed: Bool
    /// Context.
    public var note: String
  }

  /// The rows.
  public var rows: [Row]

  /// Whether every row passed.
  public var passed: Bool { rows.allSatisfy(\.passed) }

  /// A table for terminals, ending with a PASS/FAIL line.
  public var lines: [String] {
    var out = [
      Format.pad("check", 30) + Format.pad("kind", 12) + Format.pad("value", 11) + Format.pad("limit", 9)
        + "result  note"
    ]
    for r in rows {
      let value = r.kind == .structural ? String(Int(r.value)) : MoECheck.format(r.value)
      let limit = r.limit.map { r.kind == .structural ? String(Int($0)) : MoECheck.format($0) } ?? "—"
      let result = r.kind == .report ? "info" : (r.passed ? "PASS" : "FAIL")
      out.append(
        Format.pad(r.name, 30) + Format.pad(r.kind.rawValue, 12) + Format.pad(value, 11) + Format.pad(limit, 9)
          + Format.pad(result, 8) + r.note)
    }
    out.append(passed ? "PASS: every MoE check holds" : "FAIL: \(rows.filter { !$0.passed }.count) MoE check(s) failed")
    return out
  }

  /// The rows as JSON.
  public var json: JSONValue {
    .object(
      JSONObject([
        ("passed", .bool(passed)),
        (
          "checks",
          .array(
            rows.map { r in
              var o = JSONObject()
              o["name"] = .string(r.name)
              o["kind"] = .string(r.kind.rawValue)
              o["value"] = r.value.isFinite ? .double(r.value) : .null
              o["limit"] = r.limit.map(JSONValue.double) ?? .null
              o["passed"] = .bool(r.passed)
              o["note"] = .string(r.note)
              return .object(o)
            })
        ),
      ]))
  }
}
