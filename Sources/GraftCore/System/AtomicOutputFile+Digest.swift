extension AtomicOutputFile {
  /// Appends `range` of a mapped file, copied in the kernel (``copy(from:range:)``) in 16 MiB chunks, while the
  /// second core runs `update` over each chunk already copied (one chunk behind), then drops that chunk's pages.
  ///
  /// The digest reads only pages the copy has just brought into the page cache, so a cold input is read from disk
  /// once, sequentially, by the copy. Returns the digest state after the whole range.
  package mutating func copy<State: Sendable>(
    from region: MappedRegion, range: Range<Int>, digesting initial: State,
    _ update: @escaping @Sendable (inout State, UnsafeRawBufferPointer) -> Void
  ) throws(GraftError) -> State {
    let chunk = 16 << 20
    var pending: BackgroundWork<State>?
    var state = initial
    var at = range.lowerBound
    while at < range.upperBound {
      let end = min(range.upperBound, at + chunk)
      do { try copy(from: region, range: at..<end) } catch {
        _ = pending?.wait()
        throw error
      }
      if let pending { state = pending.wait() }
      let previous = state
      let bytes = SharedBytes(region.bytes(in: at..<end))
      let floor = range.lowerBound
      let copied = at..<end
      pending = BackgroundWork {
        var next = previous
        update(&next, bytes.bytes)
        region.discardConsumed(copied, floor: floor)
        return next
      }
      at = end
    }
    return pending?.wait() ?? state
  }
}
