/// A tensor-name pattern matched component by component on `.` boundaries.
///
/// Components are literal except `#` (a decimal index such as a layer number), `*` (any one component) and a
/// trailing `**` (one or more further components). Matching whole components is what keeps
/// `ffns.0.layers.0.linear.linear.*` from also catching `linear_sep`, and `norm_o2m` from touching `norm_o2o`.
public struct MrDETRKeyPattern: Sendable, Hashable, CustomStringConvertible {
  /// The pattern as written.
  public let description: String
  private let components: [Substring]

  /// Creates a pattern such as `transformer.decoder.layers.#.attentions.0.norm_o2m.*`.
  public init(_ text: String) {
    description = text
    components = text.split(separator: ".", omittingEmptySubsequences: false)
  }

  /// Whether `name` matches.
  public func matches(_ name: String) -> Bool {
    let parts = name.split(separator: ".", omittingEmptySubsequences: false)
    var i = 0
    for (k, c) in components.enumerated() {
      if c == "**" && k == components.count - 1 { return parts.count > i }
      guard i < parts.count else { return false }
      let part = parts[i]
      switch c {
      case "*": break
      case "#": guard !part.isEmpty, part.allSatisfy(\.isASCII), part.allSatisfy(\.isNumber) else { return false }
      default: guard part == c else { return false }
      }
      i += 1
    }
    return i == parts.count
  }
}
