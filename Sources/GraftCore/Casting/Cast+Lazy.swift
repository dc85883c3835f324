extension Cast {
  /// A lazily cast tensor (ProducedBytes) that converts chunk by chunk when its bytes are read, adding to `collector`.
  ///
  /// Any byte range may be read. An element cut by the start of a range is converted whole into a small buffer and
  /// only its requested bytes are copied; its statistics go to the range holding its first byte, so reading the
  /// tensor once, in any tiling, reports every element exactly once (reading a range twice counts it twice). A
  /// tensor already of dtype `to` is returned unchanged and reports nothing.
  ///
  /// - Throws: `unsupportedDType` when the pair is not supported; `invalidTensorInfo` when the tensor's byte count
  ///   does not match its shape, or an odd number of elements is cast to F4 (F4 tensors hold whole bytes).
  public static func lazily(
    _ tensor: Tensor, to: DType, options: CastOptions, collector: CastReportCollector
  ) throws(GraftError) -> Tensor {
    let from = tensor.dtype
    guard isSupported(from: from, to: to) else {
      throw GraftError(.unsupportedDType, "cannot cast \(from) to \(to): expected real numeric types (or equal types)")
    }
    if from == to { return tensor }
    guard let count = Checked.product(tensor.shape), let inBytes = storageBytes(from, count: count),
      inBytes == tensor.byteCount
    else {
      throw GraftError(
        .invalidTensorInfo, "shape \(tensor.shape) of \(from) does not match the tensor's \(tensor.byteCount) bytes")
    }
    guard let outBytes = to.byteCount(elements: count) else {
      throw GraftError(
        .invalidTensorInfo, "\(count) elements cannot be cast to \(to): \(to) tensors need a whole number of bytes")
    }
    let plan = LazyCast(source: tensor.bytes, from: from, to: to, count: count, options: options, collector: collector)
    let bytes = ProducedBytes(byteCount: outBytes) { range, buffer in try plan.produce(range, into: buffer) }
    return Tensor(dtype: to, shape: tensor.shape, bytes: bytes)
  }
}

/// The state a lazily cast tensor's producer captures.
struct LazyCast: Sendable {
  let source: any TensorByteSource
  let from: DType
  let to: DType
  let count: Int
  let options: CastOptions
  let collector: CastReportCollector

  /// Elements converted per call to ``Cast/convert(_:from:into:to:count:options:report:)`` (even, for F4).
  static let chunkElements = 1 << 16

  /// Fills `out` with the cast bytes of `range`.
  func produce(_ range: Range<Int>, into out: UnsafeMutableRawBufferPointer) throws {
    guard let base = out.baseAddress, !range.isEmpty else { return }
    var report = CastReport()
    let a = range.lowerBound
    let b = range.upperBound
    if to == .float4E2M1 {
      // Every output byte holds two whole elements.
      try convertElements((2 * a)..<Swift.min(2 * b, count), into: base, report: &report)
      collector.add(report)
      return
    }
    let width = to.bitWidth / 8
    var first = a / width
    if a % width != 0 {
      // The range starts inside an element: convert it for its bytes, but its statistics belong to the range
      // holding its first byte.
      var ignored = CastReport()
      let end = Swift.min(b, (first + 1) * width)
      try convertPartial(first, bytes: a..<end, into: base, report: &ignored)
      first += 1
    }
    let fullEnd = b / width
    if fullEnd > first {
      try convertElements(first..<fullEnd, into: base + (first * width - a), report: &report)
    }
    if b % width != 0 && fullEnd >= first {
      try convertPartial(fullEnd, bytes: (fullEnd * width)..<b, into: base + (fullEnd * width - a), report: &report)
    }
    collector.add(report)
  }

  /// Converts element `index` into a scratch buffer and copies its bytes in `bytes` (absolute) to `dst`.
  private func convertPartial(
    _ index: Int, bytes: Range<Int>, into dst: UnsafeMutableRawPointer, report: inout CastReport
  ) throws {
    try withUnsafeTemporaryAllocation(byteCount: 16, alignment: 16) { scratch in
      guard let s = scratch.baseAddress else { return }
      try convertElements(index..<(index + 1), into: s, report: &report)
      let offset = bytes.lowerBound - index * (to.bitWidth / 8)
      dst.copyMemory(from: s + offset, byteCount: bytes.count)
    }
  }

  /// Converts the source elements `elements` into `dst`, which receives them from its first byte.
  private func convertElements(
    _ elements: Range<Int>, into dst: UnsafeMutableRawPointer, report: inout CastReport
  ) throws {
    var e = elements.lowerBound
    var out = dst
    if from == .float4E2M1 && e % 2 == 1 && e < elements.upperBound {
      // An F4 source element in a high nibble: move it to a low nibble and convert it alone.
      var byte: UInt8 = 0
      try withUnsafeMutableBytes(of: &byte) { try source.copyBytes(in: (e / 2)..<(e / 2 + 1), into: $0) }
      byte >>= 4
      try withUnsafeBytes(of: byte) { raw in
        try Cast.convert(
          raw, from: from, into: UnsafeMutableRawBufferPointer(start: out, count: (to.bitWidth + 7) / 8), to: to,
          count: 1,
          options: options, report: &report)
      }
      e += 1
      out += to.bitWidth / 8
    }
    guard e < elements.upperBound else { return }
    let direct = source.contiguousBytes
    let chunk = Swift.min(Self.chunkElements, elements.upperBound - e)
    let scratchBytes = direct == nil ? (Cast.storageBytes(from, count: chunk) ?? 0) : 0
    let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: Swift.max(scratchBytes, 1), alignment: 64)
    defer { scratch.deallocate() }
    while e < elements.upperBound {
      let n = Swift.min(chunk, elements.upperBound - e)
      let start = e * from.bitWidth / 8
      let end = ((e + n) * from.bitWidth + 7) / 8
      let input: UnsafeRawBufferPointer
      if let direct {
        input = UnsafeRawBufferPointer(rebasing: direct[start..<end])
      } else {
        let view = UnsafeMutableRawBufferPointer(rebasing: scratch[0..<(end - start)])
        try source.copyBytes(in: start..<end, into: view)
        input = UnsafeRawBufferPointer(view)
      }
      let outBytes = (n * to.bitWidth + 7) / 8
      try Cast.convert(
        input, from: from, into: UnsafeMutableRawBufferPointer(start: out, count: outBytes), to: to, count: n,
        options: options, report: &report)
      // Converted source bytes are not read again: drop mapped pages so a cast conversion's resident size stays at
      // one chunk instead of growing to the whole source file.
      if direct != nil { source.discard(start..<end) }
      out += outBytes
      e += n
    }
  }
}
