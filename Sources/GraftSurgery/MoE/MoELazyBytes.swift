import GraftCore

/// The bytes of another source, read on demand, whose pages are dropped once read.
///
/// Expert copies are these: E copies of a dense matrix cost no memory before the writer asks for them, and because
/// each read drops the mapped pages it touched, writing E copies of every layer keeps the resident size near one
/// chunk instead of growing to the input's size (the mapped pages would otherwise count as resident).
final class MoEForwardedBytes: TensorByteSource, @unchecked Sendable {
  let source: any TensorByteSource
  let byteCount: Int

  init(_ source: any TensorByteSource) {
    self.source = source
    byteCount = source.byteCount
  }

  var contiguousBytes: UnsafeRawBufferPointer? { nil }

  func copyBytes(in range: Range<Int>, into buffer: UnsafeMutableRawBufferPointer) throws {
    try source.copyBytes(in: range, into: buffer)
    source.discard(range)
  }
}

/// Another view of the same mapped bytes, or a forwarding copy of produced ones: what an unchanged expert copy is.
///
/// A new `MappedBytes` over the same file range is a distinct storage object, so writers write it again rather than
/// alias it, and the safetensors writer copies it inside the kernel (`copy_file_range`) without touching its pages.
func moeCopy(_ source: any TensorByteSource) -> any TensorByteSource {
  if let mapped = source as? MappedBytes {
    return MappedBytes(region: mapped.region, offset: mapped.offset, count: mapped.byteCount)
  }
  return MoEForwardedBytes(source)
}

/// Several sources one after the other (the fused `[E, 2I, H]` stacks of the transformers 5 layout).
final class MoEConcatenatedBytes: TensorByteSource, @unchecked Sendable {
  let parts: [any TensorByteSource]
  let starts: [Int]
  let byteCount: Int

  init(_ parts: [any TensorByteSource]) {
    self.parts = parts
    var starts: [Int] = []
    var total = 0
    for p in parts {
      starts.append(total)
      total += p.byteCount
    }
    self.starts = starts
    byteCount = total
  }

  var contiguousBytes: UnsafeRawBufferPointer? { nil }

  func copyBytes(in range: Range<Int>, into buffer: UnsafeMutableRawBufferPointer) throws {
    for (i, part) in parts.enumerated() {
      let lo = max(range.lowerBound, starts[i])
      let hi = min(range.upperBound, starts[i] + part.byteCount)
      guard lo < hi else { continue }
      let inPart = (lo - starts[i])..<(hi - starts[i])
      try part.copyBytes(
        in: inPart,
        into: UnsafeMutableRawBufferPointer(rebasing: buffer[(lo - range.lowerBound)..<(hi - range.lowerBound)]))
      part.discard(inPart)
    }
  }
}

/// A row-major matrix whose rows are produced one at a time by a recipe (gathers, scaling, re-initialisation).
///
/// Any byte range can be produced independently, so the writer's chunking decides the memory used; the recipe's
/// sources drop the pages they read after each range, or once the last byte has been produced.
final class MoERowProducedBytes: TensorByteSource, @unchecked Sendable {
  /// Writes output row `row` (exactly `rowBytes` bytes) into the buffer.
  typealias Recipe = @Sendable (_ row: Int, _ into: UnsafeMutableRawBufferPointer) throws -> Void

  /// When the sources' pages are dropped.
  enum Dropping {
    /// After every range: each range may gather from anywhere in a source far larger than memory (LLMs).
    case afterEveryRange
    /// Once the range ending the tensor is produced: the writer asks for the ranges in order, and a small source
    /// that every range gathers from is then faulted in once rather than once per range (ViT MLPs).
    case afterLastRange
  }

  let rowBytes: Int
  let byteCount: Int
  let recipe: Recipe
  let sources: [any TensorByteSource]
  let dropping: Dropping

  init(
    rows: Int, rowBytes: Int, sources: [any TensorByteSource], dropping: Dropping = .afterEveryRange,
    recipe: @escaping Recipe
  ) {
    self.rowBytes = rowBytes
    byteCount = rows * rowBytes
    self.sources = sources
    self.dropping = dropping
    self.recipe = recipe
  }

  var contiguousBytes: UnsafeRawBufferPointer? { nil }

  func copyBytes(in range: Range<Int>, into buffer: UnsafeMutableRawBufferPointer) throws {
    guard !range.isEmpty, rowBytes > 0 else { return }
    defer {
      if dropping == .afterEveryRange || range.upperBound == byteCount {
        for s in sources { s.discard(0..<s.byteCount) }
      }
    }
    let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: rowBytes, alignment: 64)
    defer { scratch.deallocate() }
    var row = range.lowerBound / rowBytes
    while row * rowBytes < range.upperBound {
      let start = row * rowBytes
      let lo = max(range.lowerBound, start)
      let hi = min(range.upperBound, start + rowBytes)
      let target = UnsafeMutableRawBufferPointer(
        rebasing: buffer[(lo - range.lowerBound)..<(hi - range.lowerBound)])
      if lo == start && hi == start + rowBytes {
        try recipe(row, target)
      } else {
        try recipe(row, scratch)
        target.copyMemory(from: UnsafeRawBufferPointer(rebasing: scratch[(lo - start)..<(hi - start)]))
      }
      row += 1
    }
  }
}

/// Expert weights as lazy views of a dense matrix: per expert, chosen rows and columns of it, produced row by row
/// when the writer (or a check) asks, so the experts of any model cost no memory before they are written.
struct MoESlices {
  /// Edits row `row` of an expert's block in place (the LLM passes' re-initialisation, scale and noise).
  typealias Edit = @Sendable (_ row: Int, _ bytes: UnsafeMutableRawBufferPointer) throws -> Void

  let source: Tensor
  let name: String
  /// The source viewed row-major `[rows, rowLength]`: a matrix's first axis by the rest, a vector as one row.
  let rows: Int
  let rowLength: Int

  init(_ source: Tensor, name: String) {
    self.source = source
    self.name = name
    rows = source.shape.count > 1 ? source.shape[0] : 1
    rowLength = source.shape.count > 1 ? source.shape.dropFirst().reduce(1, *) : (source.shape.first ?? 1)
  }

  /// Whether `units` is `0..<n` (sets are ascending and unique).
  static func isEverything(_ units: [Int], _ n: Int) -> Bool {
    units.count == n && units.first == 0 && units.last == n - 1
  }

  /// The blocks `source[rowSets[e]][:, columnSets[e]]` for `e in 0..<experts`, stacked in order as a tensor of
  /// `shape` (a `nil` set list takes every row or column); one unedited block of everything is a view of the
  /// source itself (``moeCopy(_:)``).
  ///
  /// - Throws: `invalidArgument` when the sets do not match `experts`, differ in size, hold an index outside the
  ///   source or do not fill `shape`; `unsupportedDType` for a dtype without a whole-byte width.
  func blocks(
    experts: Int, rowSets: [[Int]]?, columnSets: [[Int]]?, shape: [Int], edit: Edit? = nil,
    dropping: MoERowProducedBytes.Dropping
  ) throws(GraftError) -> Tensor {
    guard let size = source.dtype.byteWidth else {
      throw GraftError(
        .unsupportedDType, "has dtype \(source.dtype); expert slices need whole-byte elements", tensor: name)
    }
    let perRows = try Self.checked(rowSets, experts: experts, bound: rows, name: name) ?? rows
    let perColumns = try Self.checked(columnSets, experts: experts, bound: rowLength, name: name) ?? rowLength
    guard shape.reduce(1, *) == experts * perRows * perColumns else {
      throw GraftError(
        .invalidArgument, "\(experts) blocks of [\(perRows), \(perColumns)] do not fill the shape \(shape)",
        tensor: name)
    }
    let everyRow = rowSets.map { $0.allSatisfy { Self.isEverything($0, rows) } } ?? true
    let everyColumn = columnSets.map { $0.allSatisfy { Self.isEverything($0, rowLength) } } ?? true
    if experts == 1 && edit == nil && everyRow && everyColumn {
      return Tensor(dtype: source.dtype, shape: shape, bytes: moeCopy(source.bytes))
    }
    let src = source.bytes
    let length = rowLength
    let sourceRowBytes = rowLength * size
    let gathered = everyColumn ? nil : columnSets
    let bytes = MoERowProducedBytes(
      rows: experts * perRows, rowBytes: perColumns * size, sources: [src], dropping: dropping
    ) { r, buffer in
      let (e, i) = r.quotientAndRemainder(dividingBy: perRows)
      let row = rowSets?[e][i] ?? i
      let range = (row * sourceRowBytes)..<((row + 1) * sourceRowBytes)
      if let columns = gathered?[e] {
        if let whole = src.contiguousBytes {
          RawBytes.gather(
            UnsafeRawBufferPointer(rebasing: whole[range]), rows: CollectionOfOne(0), columns: columns,
            rowLength: length, size: size, into: buffer)
        } else {
          let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: sourceRowBytes, alignment: 64)
          defer { scratch.deallocate() }
          try src.copyBytes(in: range, into: scratch)
          RawBytes.gather(
            UnsafeRawBufferPointer(scratch), rows: CollectionOfOne(0), columns: columns, rowLength: length,
            size: size, into: buffer)
        }
      } else {
        try src.copyBytes(in: range, into: buffer)
      }
      try edit?(i, buffer)
    }
    return Tensor(dtype: source.dtype, shape: shape, bytes: bytes)
  }

  /// The common size of the sets, after checking there is one per expert and every index lies in `0..<bound`.
  private static func checked(
    _ sets: [[Int]]?, experts: Int, bound: Int, name: String
  ) throws(GraftError) -> Int? {
    guard let sets else { return nil }
    guard sets.count == experts, let size = sets.first?.count, sets.allSatisfy({ $0.count == size }) else {
      throw GraftError(
        .invalidArgument, "expected \(experts) index sets of one size; got sizes \(sets.map(\.count))", tensor: name)
    }
    for (e, set) in sets.enumerated() {
      if let bad = set.first(where: { $0 < 0 || $0 >= bound }) {
        throw GraftError(.invalidArgument, "expert \(e)'s index \(bad) lies outside 0..<\(bound)", tensor: name)
      }
    }
    return size
  }
}
