/// Token id sequences for the LLM commands: typed on the command line or stored in an integer array file.
public enum LLMTokens {
  /// The most tokens read from a file or a list (a batch of 4096 sequences of 4096 tokens).
  public static let maximumCount = 1 << 24

  /// Parses `1,2,3` (spaces allowed) into one sequence.
  ///
  /// - Throws: `invalidArgument` naming the entry that is not a non-negative 32-bit integer.
  public static func parse(_ text: String) throws(GraftError) -> [Int32] {
    var out: [Int32] = []
    for (i, part) in text.split(separator: ",", omittingEmptySubsequences: false).enumerated() {
      let s = part.trimmingSpaces
      guard let v = Int32(s), v >= 0 else {
        throw GraftError(
          .invalidArgument, "token \(i) is '\(s)'; expected a non-negative integer id (list: 1,2,3)"
        ).resolved(by: "tokens")
      }
      out.append(v)
    }
    guard out.count <= maximumCount else {
      throw GraftError(.limitExceeded, "\(out.count) tokens; the limit is \(maximumCount)").resolved(by: "tokens")
    }
    return out
  }

  /// Reads the one integer array of a file (`.npy`, or any format Graft reads): `[T]` is one sequence, `[B, T]` a
  /// batch of equal-length sequences.
  ///
  /// - Throws: `invalidArgument` naming the file when it holds several arrays, a float array, another rank, or an
  ///   id outside `0..<2³¹`.
  public static func read(_ path: String) throws -> [[Int32]] {
    let table = try Checkpoint.read(path: path)
    guard table.storedEntries.count == 1, let entry = table.storedEntries.first else {
      throw GraftError(
        .invalidArgument, "holds \(table.storedEntries.count) arrays; expected one array of token ids", file: path
      ).on(.input)
    }
    let t = entry.tensor
    guard t.dtype.isInteger else {
      throw GraftError(
        .invalidArgument, "holds \(t.dtype) values; token ids are integers", file: path, tensor: entry.name
      ).on(.input)
    }
    guard t.shape.count == 1 || t.shape.count == 2, t.elementCount > 0, t.elementCount <= maximumCount else {
      throw GraftError(
        .invalidArgument,
        "shape \(t.shape); expected [tokens] or [sequences, tokens], at most \(maximumCount) ids, not empty",
        file: path, tensor: entry.name
      ).on(.input)
    }
    var values = [Double](repeating: 0, count: t.elementCount)
    try t.withUnsafeBytes { raw in
      try values.withUnsafeMutableBufferPointer { dst throws(GraftError) in
        try ElementDecoding.decodeToDouble(raw, dtype: t.dtype, into: dst)
      }
    }
    if let bad = values.firstIndex(where: { $0 < 0 || $0 > Double(Int32.max) }) {
      throw GraftError(
        .invalidArgument, "id \(values[bad]) at element \(bad) is not a token id (0…2³¹−1)", file: path,
        tensor: entry.name
      ).on(.input)
    }
    let length = t.shape.last ?? 0
    return stride(from: 0, to: values.count, by: length).map { start in
      values[start..<(start + length)].map { Int32($0) }
    }
  }
}

extension Substring {
  fileprivate var trimmingSpaces: Substring {
    var s = self
    while s.first == " " { s = s.dropFirst() }
    while s.last == " " { s = s.dropLast() }
    return s
  }
}
