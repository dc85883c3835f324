public import GraftCore

/// What is done to each row of an expert matrix after it is gathered: Drop-Upcycling re-initialisation, the
/// partition scale, added noise.
///
/// Random values come from a generator seeded by (seed, layer, expert, matrix, row), so any row can be produced on
/// its own, in any order, and gives the same bytes every time.
struct LLMRowEdit: Sendable {
  var dtype: DType
  var seed: UInt64
  var layer: Int
  /// `(expert << 8) | matrix`.
  var stream: UInt64
  var scale: Float = 1
  var noise = 0.0
  /// Output rows replaced by N(mean, std²) (gate and up).
  var replacedRows: Set<Int> = []
  /// Output columns replaced by N(mean, std²) in every row (down).
  var replacedColumns: [Int] = []
  var mean = 0.0
  var std = 0.0

  var isIdentity: Bool { scale == 1 && noise == 0 && replacedRows.isEmpty && replacedColumns.isEmpty }

  /// The edit of rows of `count` elements as a ``MoESlices`` edit, or `nil` when it changes nothing.
  func rows(count: Int) -> MoESlices.Edit? {
    guard !isIdentity else { return nil }
    let edit = self
    return { row, bytes in try edit.apply(row: row, bytes, count: count) }
  }

  /// Edits one row of `count` elements in place (decoded to Float, edited, encoded with round-to-nearest-even; an
  /// unchanged value re-encodes to its own bytes).
  func apply(row: Int, _ bytes: UnsafeMutableRawBufferPointer, count: Int) throws(GraftError) {
    guard !isIdentity else { return }
    var values = [Float](repeating: 0, count: count)
    try values.withUnsafeMutableBufferPointer { v throws(GraftError) in
      try ElementDecoding.decodeToFloat(UnsafeRawBufferPointer(bytes), dtype: dtype, into: v)
    }
    var random = SplitMix64(seed: seed, layer: layer, stream: (stream << 32) ^ UInt64(row))
    if replacedRows.contains(row) {
      for (j, z) in random.polarNormals(count).enumerated() { values[j] = Float(mean + std * z) }
    }
    if !replacedColumns.isEmpty {
      for (c, z) in zip(replacedColumns, random.polarNormals(replacedColumns.count)) {
        values[c] = Float(mean + std * z)
      }
    }
    if scale != 1 { for j in 0..<count { values[j] *= scale } }
    if noise > 0 { for (j, z) in random.polarNormals(count).enumerated() { values[j] += Float(noise * z) } }
    var report = CastReport()
    try values.withUnsafeBufferPointer { v throws(GraftError) in
      try ElementDecoding.encodeFromFloat(v, to: dtype, into: bytes, options: CastOptions(), report: &report)
    }
  }
}

/// Per dense unit: the sum and sum of squares of its gate row, up row and down column, so that the mean and
/// standard deviation of any expert's dropped block cost one pass over the dense MLP per layer.
struct LLMDropStatistics {
  /// `[matrix][unit] = (Σx, Σx², count)`.
  var sums: [[(Double, Double)]]
  var lengths: [Int]

  init(gate: Tensor, up: Tensor, down: Tensor, names: (gate: String, up: String, down: String)) throws(GraftError) {
    let units = gate.shape[0]
    var sums = Array(repeating: Array(repeating: (0.0, 0.0), count: units), count: 3)
    for (m, (tensor, name)) in [(gate, names.gate), (up, names.up)].enumerated() {
      try LLMRowReader.forEachRow(tensor, name: name) { r, row in
        var s = 0.0
        var q = 0.0
        for v in row {
          s += Double(v)
          q += Double(v) * Double(v)
        }
        sums[m][r] = (s, q)
      }
    }
    try LLMRowReader.forEachRow(down, name: names.down) { _, row in
      for (u, v) in row.enumerated() {
        sums[2][u].0 += Double(v)
        sums[2][u].1 += Double(v) * Double(v)
      }
    }
    self.sums = sums
    lengths = [gate.shape[1], up.shape[1], down.shape[0]]
  }

  /// Mean and (population) standard deviation of the values of `units` in matrix `m`.
  func moments(_ m: LLMExpertBuilder.Matrix, units: [Int]) -> (Double, Double) {
    let k = Int(m.rawValue) - 1
    var s = 0.0
    var q = 0.0
    for u in units {
      s += sums[k][u].0
      q += sums[k][u].1
    }
    let n = Double(units.count * lengths[k])
    guard n > 0 else { return (0, 0) }
    let mean = s / n
    return (mean, max(0, q / n - mean * mean).squareRoot())
  }
}

/// Streams a matrix's rows as Float, a block of rows at a time, dropping the pages read (memory: about 1 MiB
/// whatever the matrix's size).
public enum LLMRowReader {
  /// Calls `body(row, values)` for every row of a `[rows, columns]` tensor.
  public static func forEachRow(
    _ tensor: Tensor, name: String, _ body: (Int, UnsafeBufferPointer<Float>) throws(GraftError) -> Void
  ) throws(GraftError) {
    guard tensor.shape.count == 2 else { throw GraftError(.invalidModel, "expected a matrix", tensor: name) }
    let columns = tensor.shape[1]
    try forEachBlock(tensor, name: name, rows: 0..<tensor.shape[0], columns: columns) {
      first, n, v throws(GraftError) in
      for r in 0..<n { try body(first + r, UnsafeBufferPointer(rebasing: v[(r * columns)..<((r + 1) * columns)])) }
    }
  }

  /// Calls `body(firstRow, rowCount, values)` for consecutive blocks of `rows` of the tensor's bytes viewed as a
  /// row-major matrix with `columns` columns (`rows` may be a slice, such as one expert of a fused stack).
  ///
  /// - Throws: `invalidModel` when the rows lie outside the tensor or its dtype has no whole-byte width; the
  ///   reader's error, naming the tensor.
  public static func forEachBlock(
    _ tensor: Tensor, name: String, rows: Range<Int>, columns: Int,
    _ body: (Int, Int, UnsafeBufferPointer<Float>) throws(GraftError) -> Void
  ) throws(GraftError) {
    guard let size = tensor.dtype.byteWidth, rows.lowerBound >= 0, columns > 0,
      rows.upperBound * columns * size <= tensor.byteCount
    else {
      throw GraftError(
        .invalidModel, "rows \(rows) of \(columns) \(tensor.dtype) values lie outside the tensor \(tensor.shape)",
        tensor: name)
    }
    let block = max(1, (1 << 20) / (columns * size))
    let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: block * columns * size, alignment: 64)
    defer { raw.deallocate() }
    let values = UnsafeMutableBufferPointer<Float>.allocate(capacity: block * columns)
    defer { values.deallocate() }
    var start = rows.lowerBound
    while start < rows.upperBound {
      let n = min(block, rows.upperBound - start)
      let range = (start * columns * size)..<((start + n) * columns * size)
      let chunk = UnsafeMutableRawBufferPointer(rebasing: raw[0..<range.count])
      do { try tensor.bytes.copyBytes(in: range, into: chunk) } catch {
        throw GraftError.reading(error, tensor: name)
      }
      tensor.bytes.discard(range)
      let decoded = UnsafeMutableBufferPointer(rebasing: values[0..<(n * columns)])
      try ElementDecoding.decodeToFloat(UnsafeRawBufferPointer(chunk), dtype: tensor.dtype, into: decoded)
      try body(start, n, UnsafeBufferPointer(decoded))
      start += n
    }
  }
}
