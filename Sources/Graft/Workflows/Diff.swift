/// A comparison of two checkpoints, name by name.
public struct CheckpointDiff: Sendable {
  /// One tensor present in both checkpoints.
  public struct TensorDifference: Sendable {
    /// The name.
    public var name: String
    /// The dtypes in A and B.
    public var dtypes: (DType, DType)
    /// The shapes in A and B.
    public var shapes: ([Int], [Int])
    /// Whether the bytes are identical (same dtype, same shape, same bits).
    public var bitIdentical: Bool
    /// The largest |a − b| over elements (NaN == NaN counts as equal); `nil` when shapes differ.
    public var maxAbs: Double?
    /// The largest |a − b| / |b| over elements with b ≠ 0; `nil` when shapes differ.
    public var maxRel: Double?
    /// Elements outside `atol + rtol·|b|`.
    public var mismatches: Int
    /// Whether this tensor is within tolerance.
    public var matches: Bool
  }

  /// Names only in A.
  public var onlyInA: [String] = []
  /// Names only in B.
  public var onlyInB: [String] = []
  /// Names in both, in A's order.
  public var common: [TensorDifference] = []
  /// The tolerances used.
  public var atol: Double
  /// The relative tolerance used.
  public var rtol: Double

  /// Whether the checkpoints hold the same names with the same shapes and values within tolerance.
  ///
  /// Dtype changes are allowed when the values still match within tolerance (a bf16 copy compared with a tolerance).
  public var matches: Bool { onlyInA.isEmpty && onlyInB.isEmpty && common.allSatisfy(\.matches) }

  /// Compares two tables.
  ///
  /// Equal bytes are compared with `memcmp`-speed chunk comparisons; otherwise both sides are decoded to Double in
  /// chunks of one million elements, so memory stays bounded.
  public static func compare(
    _ a: TensorTable, _ b: TensorTable, atol: Double = 0, rtol: Double = 0
  ) throws
    -> CheckpointDiff
  {
    var diff = CheckpointDiff(atol: atol, rtol: rtol)
    let namesB = Set(b.names)
    diff.onlyInA = a.names.filter { !namesB.contains($0) }
    let namesA = Set(a.names)
    diff.onlyInB = b.names.filter { !namesA.contains($0) }
    for entry in a.entries {
      guard let tb = b[entry.name] else { continue }
      diff.common.append(try compareTensor(entry.name, entry.tensor, tb, atol: atol, rtol: rtol))
    }
    return diff
  }

  static func compareTensor(
    _ name: String, _ x: Tensor, _ y: Tensor, atol: Double, rtol: Double
  ) throws
    -> TensorDifference
  {
    var d = TensorDifference(
      name: name, dtypes: (x.dtype, y.dtype), shapes: (x.shape, y.shape), bitIdentical: false, maxAbs: nil, maxRel: nil,
      mismatches: 0, matches: false)
    guard x.shape == y.shape else { return d }
    if x.dtype == y.dtype && x.byteCount == y.byteCount {
      d.bitIdentical = try RawBytes.equal(x, y, name: name)
      if d.bitIdentical {
        d.maxAbs = 0
        d.maxRel = 0
        d.matches = true
        return d
      }
    }
    guard x.dtype.isNumeric, y.dtype.isNumeric else {
      // Complex and 6-bit types are compared bit for bit only.
      d.mismatches = d.bitIdentical ? 0 : 1
      d.matches = d.bitIdentical
      return d
    }
    var maxAbs = 0.0
    var maxRel = 0.0
    var mismatches = 0
    let count = x.elementCount
    let step = 1 << 20
    var start = 0
    while start < count {
      let n = min(step, count - start)
      let u = try decodeElements(x, start, n)
      let v = try decodeElements(y, start, n)
      for k in 0..<n {
        let p = u[k]
        let q = v[k]
        if p.isNaN && q.isNaN { continue }
        if p == q { continue }
        let e = abs(p - q)
        if e.isNaN {
          mismatches += 1
          maxAbs = .infinity
          continue
        }
        maxAbs = max(maxAbs, e)
        if q != 0 { maxRel = max(maxRel, e / abs(q)) }
        if !(e <= atol + rtol * abs(q)) { mismatches += 1 }
      }
      start += n
    }
    d.maxAbs = maxAbs
    d.maxRel = maxRel
    d.mismatches = mismatches
    d.matches = mismatches == 0
    return d
  }

  /// Decodes elements `[start, start + count)` of a tensor to Double (sub-byte types from the covering bytes).
  static func decodeElements(_ t: Tensor, _ start: Int, _ count: Int) throws -> [Double] {
    let bits = t.dtype.bitWidth
    let firstBit = start * bits
    let byteStart = firstBit / 8
    let byteEnd = ((start + count) * bits + 7) / 8
    let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: max(byteEnd - byteStart, 1), alignment: 64)
    defer { raw.deallocate() }
    let view = UnsafeMutableRawBufferPointer(rebasing: raw[0..<(byteEnd - byteStart)])
    try t.bytes.copyBytes(in: byteStart..<byteEnd, into: view)
    t.bytes.discard(byteStart..<byteEnd)
    let skip = (firstBit % 8) / max(bits, 1)
    var out = [Double](repeating: 0, count: count + skip)
    try out.withUnsafeMutableBufferPointer { dst in
      try ElementDecoding.decodeToDouble(UnsafeRawBufferPointer(view), dtype: t.dtype, into: dst)
    }
    return skip == 0 ? out : Array(out[skip...])
  }

  /// A plain-text report: missing and extra names, then one line per differing tensor.
  public func render(showMatching: Bool = false) -> String {
    var lines: [String] = []
    for n in onlyInA { lines.append("only in A: \(n)") }
    for n in onlyInB { lines.append("only in B: \(n)") }
    for c in common where showMatching || !c.bitIdentical {
      var parts = [c.name]
      if c.dtypes.0 != c.dtypes.1 { parts.append("dtype \(c.dtypes.0) → \(c.dtypes.1)") }
      if c.shapes.0 != c.shapes.1 {
        parts.append("shape \(c.shapes.0) → \(c.shapes.1)")
      } else if let a = c.maxAbs, let r = c.maxRel {
        parts.append(c.bitIdentical ? "identical" : "max abs \(Format.scientific(a)) max rel \(Format.scientific(r))")
        if c.mismatches > 0 { parts.append("\(c.mismatches) elements outside tolerance") }
      }
      lines.append((c.matches ? "  ok  " : "DIFF  ") + parts.joined(separator: "  "))
    }
    let identical = common.filter(\.bitIdentical).count
    lines.append(
      "\(common.count) common tensors (\(identical) bit-identical), \(onlyInA.count) only in A, \(onlyInB.count) only in B"
        + " — " + (matches ? "MATCH" : "DIFFERENT") + (atol > 0 || rtol > 0 ? " (atol \(atol), rtol \(rtol))" : ""))
    return lines.joined(separator: "\n")
  }
}

extension CheckpointDiff {
  /// The comparison as data: the names on one side only and every common tensor's figures.
  public var json: JSONValue {
    var o = JSONObject()
    o["matches"] = .bool(matches)
    o["atol"] = .double(atol)
    o["rtol"] = .double(rtol)
    o["only_in_a"] = .array(onlyInA.map(JSONValue.string))
    o["only_in_b"] = .array(onlyInB.map(JSONValue.string))
    o["tensors"] = .array(
      common.map { d in
        var e = JSONObject()
        e["name"] = .string(d.name)
        e["dtypes"] = .array([.string(d.dtypes.0.rawValue), .string(d.dtypes.1.rawValue)])
        e["shapes"] = .array([.array(d.shapes.0.map(JSONValue.integer)), .array(d.shapes.1.map(JSONValue.integer))])
        e["bit_identical"] = .bool(d.bitIdentical)
        e["max_abs"] = d.maxAbs.map(JSONValue.finite) ?? .null
        e["max_rel"] = d.maxRel.map(JSONValue.finite) ?? .null
        e["mismatches"] = .integer(d.mismatches)
        e["matches"] = .bool(d.matches)
        return .object(e)
      })
    return .object(o)
  }
}
