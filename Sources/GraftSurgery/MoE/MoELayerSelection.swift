public import GraftCore

/// Which blocks become MoE layers: a list, ranges, the last half, or every n-th block.
public enum MoELayerSelection: Sendable, Equatable, CustomStringConvertible {
  /// Every block.
  case all
  /// The last `depth / 2` blocks (Jetpack's `moe_layers=[6..11]` for 12 blocks).
  case lastHalf
  /// Blocks `offset, offset + n, offset + 2n, …` (GShard/V-MoE "every other": `n = 2, offset = 1`).
  case every(Int, offset: Int)
  /// Explicit block indices and ranges of them, as written (`6-11` stays one range until ``resolve(depth:)``
  /// checks it against the model's depth).
  case ranges([ClosedRange<Int>])

  /// Explicit block indices.
  public static func list(_ indices: [Int]) -> MoELayerSelection { .ranges(indices.map { $0...$0 }) }

  /// Parses `all`, `last-half`, `every-2`, `every-2+1`, or a comma list of indices and ranges (`6-11`, `0,2,4`).
  ///
  /// - Throws: `invalidArgument` for anything else.
  public init(parsing text: String) throws(GraftError) {
    let t = text.trimmingPrefix(while: { $0 == " " })
    switch t {
    case "all": self = .all
    case "last-half": self = .lastHalf
    default:
      if t.hasPrefix("every-") {
        let parts = t.dropFirst(6).split(separator: "+", omittingEmptySubsequences: false)
        guard let n = Int(parts[0]), n > 0, parts.count <= 2,
          let offset = parts.count == 2 ? Int(parts[1]) : 0, offset >= 0
        else {
          throw GraftError(.invalidArgument, "layer selection '\(text)': expected every-N or every-N+OFFSET, N ≥ 1")
        }
        self = .every(n, offset: offset)
        return
      }
      var ranges: [ClosedRange<Int>] = []
      for item in t.split(separator: ",") {
        let bounds = item.split(separator: "-", omittingEmptySubsequences: false)
        if bounds.count == 1, let i = Int(bounds[0]) {
          ranges.append(i...i)
        } else if bounds.count == 2, let a = Int(bounds[0]), let b = Int(bounds[1]), a <= b {
          ranges.append(a...b)
        } else {
          throw GraftError(
            .invalidArgument,
            "layer selection '\(text)': '\(item)' is not an index or a range a-b (also: all, last-half, every-N)")
        }
      }
      guard !ranges.isEmpty else { throw GraftError(.invalidArgument, "layer selection '\(text)' is empty") }
      self = .ranges(ranges)
    }
  }

  /// The selected block indices for a model of `depth` blocks, sorted and unique.
  ///
  /// Ranges are checked against `depth` before anything is expanded, so a selection such as `0-9999999999` costs
  /// nothing to refuse.
  ///
  /// - Throws: `invalidArgument` when an index is out of range, every-N has N < 1 or a negative offset, or nothing is
  ///   selected.
  public func resolve(depth: Int) throws(GraftError) -> [Int] {
    let result: [Int]
    switch self {
    case .all: result = Array(0..<depth)
    case .lastHalf: result = Array((depth - depth / 2)..<depth)
    case .every(let n, let offset):
      guard n >= 1 else { throw GraftError(.invalidArgument, "every-N needs N ≥ 1, not \(n)") }
      guard offset >= 0 else { throw GraftError(.invalidArgument, "every-N+OFFSET needs OFFSET ≥ 0, not \(offset)") }
      result = Array(stride(from: offset, to: depth, by: n))
    case .ranges(let ranges):
      for range in ranges {
        for bad in [range.lowerBound, range.upperBound] where bad < 0 || bad >= depth {
          throw GraftError(
            .invalidArgument, "layer index \(bad) is out of range: the model has \(depth) blocks (0...\(depth - 1))")
        }
      }
      result = Array(Set(ranges.joined())).sorted()
    }
    guard !result.isEmpty else {
      throw GraftError(.invalidArgument, "layer selection '\(self)' selects no block of a \(depth)-block model")
    }
    return result
  }

  /// The selection as it is written on the command line.
  public var description: String {
    switch self {
    case .all: return "all"
    case .lastHalf: return "last-half"
    case .every(let n, let offset): return offset == 0 ? "every-\(n)" : "every-\(n)+\(offset)"
    case .ranges(let ranges):
      return ranges.map { $0.count == 1 ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }
        .joined(separator: ",")
    }
  }
}
