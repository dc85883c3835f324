import GraftCore

/// The bytes of another source, read on demand, whose pages are dropped once read.
///
/// Expert copies are these: E copies of a dense matrix cost no memory before the writer asks for them, and because
/// each read drops the mapped pages it touched, writing E copies of every layer keeps the resident size near one
/// chunk instead of growing to the input's size (the mapped pages would otherwise count as resident).
final class LLMForwardedBytes: TensorByteSource, @unchecked Sendable {
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
func llmCopy(_ source: any TensorByteSource) -> any TensorByteSource {
  if let mapped = source as? MappedBytes {
    return MappedBytes(region: mapped.region, offset: mapped.offset, count: mapped.byteCount)
  }
  return LLMForwardedBytes(source)
}

/// Several sources one after the other (the fused `[E, 2I, H]` stacks of the transformers 5 layout).
final class LLMConcatenatedBytes: TensorByteSource, @unchecked Sendable {
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
/// Any byte range can be produced independently, so the writer's chunking decides the memory used; after each
/// range the recipe's sources drop the pages they read.
final class LLMRowProducedBytes: TensorByteSource, @unchecked Sendable {
  /// Writes output row `row` (exactly `rowBytes` bytes) into the buffer.
  typealias Recipe = @Sendable (_ row: Int, _ into: UnsafeMutableRawBufferPointer) throws -> Void

  let rowBytes: Int
  let byteCount: Int
  let recipe: Recipe
  let sources: [any TensorByteSource]

  init(rows: Int, rowBytes: Int, sources: [any TensorByteSource], recipe: @escaping Recipe) {
    self.rowBytes = rowBytes
    byteCount = rows * rowBytes
    self.sources = sources
    self.recipe = recipe
  }

  var contiguousBytes: UnsafeRawBufferPointer? { nil }

  func copyBytes(in range: Range<Int>, into buffer: UnsafeMutableRawBufferPointer) throws {
    guard !range.isEmpty, rowBytes > 0 else { return }
    defer { for s in sources { s.discard(0..<s.byteCount) } }
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
