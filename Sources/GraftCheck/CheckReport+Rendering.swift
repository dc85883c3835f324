public import GraftCore

extension CheckReport {
  /// The width of the name column.
  private var nameWidth: Int { max(10, min(36, (rows.map(\.name.count).max() ?? 0) + 2)) }

  /// The report for terminals: header lines, a fixed-width table, and a closing `PASS` or `FAIL` line.
  public var lines: [String] {
    var out = header
    var heading = [Format.pad("check", nameWidth)]
    for c in columns { heading.append(c.alignRight ? Format.padLeft(c.title, c.width) : Format.pad(c.title, c.width)) }
    heading.append("  result")
    out.append(heading.joined(separator: " ").trimmingTrailingSpaces())
    for r in rows {
      var cells = [Format.pad(r.name, nameWidth)]
      for c in columns {
        let text = r.values[c.key].map(Self.render) ?? "-"
        cells.append(c.alignRight ? Format.padLeft(text, c.width) : Format.pad(text, c.width))
      }
      cells.append(Format.pad("  " + Self.verdict(r.outcome), 8))
      if let note = r.note { cells.append(note) }
      out.append(cells.joined(separator: " ").trimmingTrailingSpaces())
    }
    out.append(summary)
    return out
  }

  /// `PASS: …` or `FAIL: …`, naming the failed rows.
  public var summary: String {
    let informational = rows.filter { $0.outcome == .info }.count
    let checked = rows.count - informational
    let failed = failures
    if failed.isEmpty {
      return "PASS: \(checked) of \(checked) checks hold"
        + (informational > 0 ? ", \(informational) informational" : "")
    }
    let names = failed.prefix(4).map(\.name).joined(separator: ", ") + (failed.count > 4 ? ", …" : "")
    return "FAIL: \(failed.count) of \(checked) checks failed (\(names))"
  }

  /// The report as data: kind, verdict, facts and one object per row with every value at full precision.
  ///
  /// Non-finite numbers become the strings `"inf"`, `"-inf"`, `"nan"`, since JSON has no such numbers.
  public var json: JSONValue {
    var o = JSONObject()
    o["check"] = .string(kind)
    o["passed"] = .bool(passed)
    for (key, value) in facts { o[key] = value }
    o["rows"] = .array(
      rows.map { r in
        var e = JSONObject()
        e["name"] = .string(r.name)
        e["outcome"] = .string(r.outcome.rawValue)
        for c in columns { if let v = r.values[c.key] { e[c.key] = Self.json(v) } }
        for (key, v) in r.values.sorted(by: { $0.key < $1.key }) where !columns.contains(where: { $0.key == key }) {
          e[key] = Self.json(v)
        }
        if let note = r.note { e["note"] = .string(note) }
        return .object(e)
      })
    return .object(o)
  }

  static func verdict(_ outcome: Outcome) -> String {
    switch outcome {
    case .passed: return "ok"
    case .failed: return "FAIL"
    case .info: return "info"
    }
  }

  static func render(_ value: Value) -> String {
    switch value {
    case .text(let s): return s
    case .integer(let i): return String(i)
    case .shape(let s): return s.map(String.init).joined(separator: "×")
    case .number(let v, let style):
      if v.isNaN { return "-" }
      switch style {
      case .scientific: return Format.scientific(v)
      case .fixed(let digits): return Format.fixed(v, digits: digits)
      case .percent: return Format.fixed(v * 100, digits: 0) + "%"
      case .cosine: return v >= 1 ? "1" : (v > 0.999 ? "1 − " + Format.scientific(1 - v) : Format.fixed(v, digits: 8))
      }
    }
  }

  static func json(_ value: Value) -> JSONValue {
    switch value {
    case .text(let s): return .string(s)
    case .integer(let i): return .integer(i)
    case .shape(let s): return .array(s.map(JSONValue.integer))
    case .number(let v, _): return JSONValue.finite(v)
    }
  }
}

extension JSONValue {
  /// A number, or for NaN and infinities the strings `nan`, `inf`, `-inf` (JSON has no such numbers).
  public static func finite(_ v: Double) -> JSONValue {
    if v.isFinite { return .double(v) }
    return .string(v.isNaN ? "nan" : (v > 0 ? "inf" : "-inf"))
  }
}

extension String {
  fileprivate func trimmingTrailingSpaces() -> String {
    var s = Substring(self)
    while s.last == " " { s = s.dropLast() }
    return String(s)
  }
}
