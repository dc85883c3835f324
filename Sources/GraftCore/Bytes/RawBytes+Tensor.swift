extension RawBytes {
  /// Whether two tensors hold the same bytes: the same storage object, or equal when streamed side by side.
  public static func equal(_ a: Tensor, _ b: Tensor, name: String) throws(GraftError) -> Bool {
    guard a.dtype == b.dtype, a.shape == b.shape else { return false }
    if a.bytes === b.bytes { return true }
    return try equal(a, 0..<a.byteCount, b, 0..<b.byteCount, name: name)
  }

  /// Whether the byte ranges of two tensors are equal, streamed side by side (pages dropped as they are read).
  public static func equal(
    _ a: Tensor, _ ra: Range<Int>, _ b: Tensor, _ rb: Range<Int>, name: String
  ) throws(GraftError) -> Bool {
    guard ra.count == rb.count, ra.upperBound <= a.byteCount, rb.upperBound <= b.byteCount else { return false }
    let chunk = 4 << 20
    if let da = a.bytes.contiguousBytes, let db = b.bytes.contiguousBytes {
      // Both in memory (mapped files): one address means one set of bytes; otherwise compare in place.
      if da.baseAddress.map({ $0 + ra.lowerBound }) == db.baseAddress.map({ $0 + rb.lowerBound }) { return true }
      var done = 0
      while done < ra.count {
        let n = min(chunk, ra.count - done)
        let rx = (ra.lowerBound + done)..<(ra.lowerBound + done + n)
        let ry = (rb.lowerBound + done)..<(rb.lowerBound + done + n)
        let same = equal(UnsafeRawBufferPointer(rebasing: da[rx]), UnsafeRawBufferPointer(rebasing: db[ry]))
        a.bytes.discard(rx)
        b.bytes.discard(ry)
        guard same else { return false }
        done += n
      }
      return true
    }
    let x = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 64)
    defer { x.deallocate() }
    let y = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 64)
    defer { y.deallocate() }
    var done = 0
    while done < ra.count {
      let n = min(chunk, ra.count - done)
      let rx = (ra.lowerBound + done)..<(ra.lowerBound + done + n)
      let ry = (rb.lowerBound + done)..<(rb.lowerBound + done + n)
      let bx = UnsafeMutableRawBufferPointer(rebasing: x[0..<n])
      let by = UnsafeMutableRawBufferPointer(rebasing: y[0..<n])
      do {
        try a.bytes.copyBytes(in: rx, into: bx)
        try b.bytes.copyBytes(in: ry, into: by)
      } catch {
        throw GraftError.reading(error, tensor: name)
      }
      a.bytes.discard(rx)
      b.bytes.discard(ry)
      guard equal(UnsafeRawBufferPointer(bx), UnsafeRawBufferPointer(by)) else { return false }
      done += n
    }
    return true
  }
}
