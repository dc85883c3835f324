public import GraftCore

/// A sed-style rename rule, `s/REGEX/REPLACEMENT/`, applied to tensor names.
///
/// The replacement may refer to capture groups as `$1` or `\1` (`$0` is the whole match). Any delimiter works
/// (`s|a/b|c|`), as in sed. Without a trailing `g` only the first match in a name is replaced.
public struct RenameRule: Sendable, CustomStringConvertible {
  /// The rule as written.
  public let description: String
  // Compiled once: compiling costs more than matching a tensor name. Invariant: never mutated; a Regex's shared
  // state (its lazily lowered program) is published atomically by the standard library, and Regex<AnyRegexOutput>
  // is not Sendable only because AnyRegexOutput values, which are made per match, are not.
  nonisolated(unsafe) private let regex: Regex<AnyRegexOutput>
  private let replacement: String
  private let global: Bool

  /// Parses `s/REGEX/REPLACEMENT/[g]`.
  ///
  /// - Throws: `invalidArgument` when the text is not of that form or the regular expression does not compile.
  public init(_ text: String) throws(GraftError) {
    description = text
    let chars = Array(text)
    guard chars.count >= 4, chars[0] == "s" else {
      throw GraftError(.invalidArgument, "a rename rule looks like s/REGEX/REPLACEMENT/, not '\(text)'")
    }
    let delimiter = chars[1]
    var parts: [String] = [""]
    var i = 2
    while i < chars.count {
      let c = chars[i]
      if c == "\\", i + 1 < chars.count, chars[i + 1] == delimiter {
        parts[parts.count - 1].append(delimiter)
        i += 2
        continue
      }
      if c == delimiter {
        parts.append("")
      } else {
        parts[parts.count - 1].append(c)
      }
      i += 1
    }
    guard parts.count == 3, parts[2].isEmpty || parts[2] == "g" else {
      throw GraftError(
        .invalidArgument,
        "a rename rule looks like s\(delimiter)REGEX\(delimiter)REPLACEMENT\(delimiter), not '\(text)'")
    }
    let pattern = parts[0]
    replacement = parts[1]
    global = parts[2] == "g"
    do { regex = try Regex(pattern) } catch {
      throw GraftError(.invalidArgument, "the rename pattern '\(pattern)' is not a valid regular expression: \(error)")
    }
  }

  /// Applies the rule to a name; returns `nil` when the pattern does not match.
  public func apply(to name: String) -> String? {
    let matches = global ? Array(name.matches(of: regex)) : name.firstMatch(of: regex).map { [$0] } ?? []
    guard !matches.isEmpty else { return nil }
    var result = ""
    var cursor = name.startIndex
    for m in matches {
      result += name[cursor..<m.range.lowerBound]
      result += expand(m)
      cursor = m.range.upperBound
    }
    result += name[cursor...]
    return result
  }

  private func expand(_ match: Regex<AnyRegexOutput>.Match) -> String {
    var out = ""
    let r = Array(replacement)
    var i = 0
    while i < r.count {
      if r[i] == "$" || r[i] == "\\", i + 1 < r.count, let d = r[i + 1].wholeNumberValue {
        if d < match.output.count, let sub = match.output[d].substring { out += sub }
        i += 2
        continue
      }
      out.append(r[i])
      i += 1
    }
    return out
  }
}

/// Which tensors a command keeps: `--include` and `--exclude` regular expressions, matched anywhere in the name.
public struct TensorSelection: Sendable {
  // Compiled once. Invariant: as for RenameRule.regex.
  nonisolated(unsafe) private let include: [Regex<AnyRegexOutput>]
  nonisolated(unsafe) private let exclude: [Regex<AnyRegexOutput>]

  /// A selection that keeps every tensor.
  public static let everything = TensorSelection(compiled: [], [])

  private init(compiled include: [Regex<AnyRegexOutput>], _ exclude: [Regex<AnyRegexOutput>]) {
    self.include = include
    self.exclude = exclude
  }

  /// Creates a selection; an empty `include` list keeps everything not excluded.
  ///
  /// - Throws: `invalidArgument` when an expression does not compile.
  public init(include: [String] = [], exclude: [String] = []) throws(GraftError) {
    func compile(_ patterns: [String]) throws(GraftError) -> [Regex<AnyRegexOutput>] {
      var compiled: [Regex<AnyRegexOutput>] = []
      for p in patterns {
        do { compiled.append(try Regex(p)) } catch {
          throw GraftError(.invalidArgument, "'\(p)' is not a valid regular expression: \(error)")
        }
      }
      return compiled
    }
    self.init(compiled: try compile(include), try compile(exclude))
  }

  /// Whether the selection keeps every name.
  public var keepsEverything: Bool { include.isEmpty && exclude.isEmpty }

  /// Whether a name is kept.
  public func keeps(_ name: String) -> Bool {
    func matches(_ regex: Regex<AnyRegexOutput>) -> Bool { name.contains(regex) }
    if !include.isEmpty && !include.contains(where: matches) { return false }
    return !exclude.contains(where: matches)
  }
}

extension TensorTable {
  /// Keeps only the entries a selection keeps; returns the names dropped.
  @discardableResult
  public mutating func apply(_ selection: TensorSelection) -> [String] {
    guard !selection.keepsEverything else { return [] }
    var dropped: [String] = []
    removeAll { e in
      let drop = !selection.keeps(e.name)
      if drop { dropped.append(e.name) }
      return drop
    }
    return dropped
  }

  /// Applies rename rules in order (each rule to the result of the previous one); returns how many names changed.
  ///
  /// - Throws: `duplicateKey` when two tensors would end up with the same name.
  @discardableResult
  public mutating func apply(_ rules: [RenameRule]) throws -> Int {
    guard !rules.isEmpty else { return 0 }
    var changed = 0
    try rename { name in
      var current = name
      for rule in rules { current = rule.apply(to: current) ?? current }
      if current != name { changed += 1 }
      return current
    }
    return changed
  }

  /// Removes a leading prefix (such as `module.`) from every name that has it; returns how many names changed.
  @discardableResult
  public mutating func stripPrefix(_ prefix: String) throws -> Int {
    var changed = 0
    try rename { name in
      guard name.hasPrefix(prefix) else { return nil }
      changed += 1
      return String(name.dropFirst(prefix.count))
    }
    return changed
  }
}
