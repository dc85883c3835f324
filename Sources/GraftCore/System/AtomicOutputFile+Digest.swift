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
    try copy(
      from: region, range: range, digesting: initial, on: BackgroundWork<State>.SerialQueue(label: "graft.digest"),
      update
    ).wait()
  }

  /// Like ``copy(from:range:digesting:_:)``, but returns the digest while the second core may still be computing it:
  /// a writer of many tensors starts copying the next one at once and collects the digests before it needs them.
  ///
  /// Digests queued on one `queue` run in order, each chunk after the one before; waiting for only the digest of
  /// the whole range made every tensor smaller than a chunk copy, then hash, one after the other. The mapping stays
  /// alive until the digest is done (the work holds `region`).
  package mutating func copy<State: Sendable>(
    from region: MappedRegion, range: Range<Int>, digesting initial: State, on queue: BackgroundWork<State>.SerialQueue,
    _ update: @escaping @Sendable (inout State, UnsafeRawBufferPointer) -> Void
  ) throws(GraftError) -> BackgroundWork<State> {
    let chunk = 16 << 20
    var last = BackgroundWork(on: queue) { initial }
    var at = range.lowerBound
    while at < range.upperBound {
      let end = min(range.upperBound, at + chunk)
      try copy(from: region, range: at..<end)
      let previous = last
      let bytes = SharedBytes(region.bytes(in: at..<end))
      let floor = range.lowerBound
      let copied = at..<end
      last = BackgroundWork(on: queue) {
        // The queue is serial, so `previous` has finished: this returns at once.
        var next = previous.wait()
        update(&next, bytes.bytes)
        region.discardConsumed(copied, floor: floor)
        return next
      }
      at = end
    }
    return last
  }
}
