public import GraftCore
import Synchronization

/// The checksum checks of one `.graft` file's tensors, computed ahead of the readers on another thread.
///
/// When a tensor is first read, it and the tensors after it (up to ``lookahead`` stored bytes) are queued for
/// hashing in file order on a background thread; a read of a tensor waits for that tensor's check and fails with
/// `checksumMismatch` (file, tensor, byte offset) when the stored bytes do not hash to the index's checksum, before
/// any byte is handed out. A conversion, which reads tensors in order, finds them already checked, so the check
/// costs the second core's time rather than the conversion's. Nothing is hashed before the first read, so opening
/// a file (`inspect`) still reads only its header; the lookahead bounds how far the hashing runs ahead of the
/// readers, so a file larger than memory is not read twice from disk.
final class GraftFileChecks: Sendable {
  /// How many stored bytes past the tensor being read are hashed ahead.
  static let lookahead = 1 << 30

  let region: MappedRegion
  let file: String
  /// The stored tensors in file order.
  let tensors: [(name: String, stored: GraftFileStoredTensor)]
  /// The stored bytes before each tensor, and in all (`tensors.count + 1` entries).
  private let storedBefore: [Int]
  private let queue = BackgroundWork<GraftError?>.SerialQueue(label: "graft.checksums")
  /// Each tensor's check once queued (a `nil` result means the checksum matched), and the first tensor after the
  /// last one queued ahead.
  private let checks: Mutex<(work: [BackgroundWork<GraftError?>?], queuedTo: Int)>

  init(region: MappedRegion, file: String, tensors: [(name: String, stored: GraftFileStoredTensor)]) {
    self.region = region
    self.file = file
    self.tensors = tensors
    var before = [0]
    for t in tensors { before.append((before.last ?? 0) + t.stored.storedLength) }
    storedBefore = before
    checks = Mutex((Array(repeating: nil, count: tensors.count), 0))
  }

  /// Waits for tensor `k`'s check (queueing it and the ones after it) and throws when it failed.
  func check(_ k: Int) throws(GraftError) {
    if let error = schedule(from: k).wait() { throw error }
  }

  /// Queues the checks of tensor `k` and of the tensors after it within the lookahead; returns `k`'s.
  ///
  /// Cheap when called for every chunk a reader takes: only checks not queued yet are visited.
  private func schedule(from k: Int) -> BackgroundWork<GraftError?> {
    checks.withLock { state in
      func queue(_ j: Int) {
        guard state.work[j] == nil else { return }
        let (region, file, (name, stored)) = (region, file, tensors[j])
        state.work[j] = BackgroundWork(on: self.queue) {
          GraftFileChecks.verify(stored, name: name, region: region, file: file)
        }
      }
      queue(k)
      // With one thread a check runs when queued, so only the tensor being read is checked then.
      if ParallelWork.threadCount > 1 {
        var j = max(k + 1, state.queuedTo)
        while j < tensors.count && storedBefore[j] - storedBefore[k] < GraftFileChecks.lookahead {
          queue(j)
          j += 1
        }
        state.queuedTo = max(state.queuedTo, j)
      }
      guard let mine = state.work[k] else { preconditionFailure("the check of tensor \(k) was just queued") }
      return mine
    }
  }

  /// Hashes a tensor's stored bytes, dropping the pages it read; `nil` when they match the index's checksum.
  static func verify(_ stored: GraftFileStoredTensor, name: String, region: MappedRegion, file: String) -> GraftError? {
    let actual = GraftFileVerifier.hash(
      region.bytes, range: stored.storedRange, discard: { region.discardConsumed($0, floor: stored.offset) })
    guard actual != stored.checksum else { return nil }
    return GraftError(
      .checksumMismatch,
      "the \(stored.storedLength) stored bytes hash to \(XXHash64.format(actual)) but the index says "
        + "\(XXHash64.format(stored.checksum)); the file is corrupt (graft verify lists every damaged tensor)",
      file: file, tensor: name, byteOffset: stored.offset
    ).on(.input)
  }
}

/// The bytes of one `.graft` tensor, handed out only once its checksum has been checked (``GraftFileChecks``).
final class GraftFileCheckedBytes: FileBackedBytes, Sendable {
  let checks: GraftFileChecks
  let index: Int
  let byteCount: Int
  private var stored: GraftFileStoredTensor { checks.tensors[index].stored }

  init(checks: GraftFileChecks, index: Int) {
    self.checks = checks
    self.index = index
    self.byteCount = checks.tensors[index].stored.byteCount
  }

  /// The mapped bytes of an uncompressed tensor, once its check has passed (waiting for it, as
  /// ``copyBytes(in:into:)`` does); `nil` when it failed, so that the reader's copy throws the checksum error.
  ///
  /// Not `nil` while the check is still running: readers that find no mapping copy the whole tensor instead (the
  /// engine, `RawBytes.equal`), and whether they did would depend on the hashing thread's timing.
  var contiguousBytes: UnsafeRawBufferPointer? {
    guard stored.deflate == nil, (try? checks.check(index)) != nil else { return nil }
    return checks.region.bytes(in: stored.offset..<(stored.offset + byteCount))
  }

  /// Where an uncompressed tensor's bytes are.
  var fileOffset: Int? { stored.deflate == nil ? stored.offset : nil }

  /// The XXH64 of an uncompressed tensor's bytes, as its index records it (and its check verifies).
  var storedChecksum: UInt64? { stored.deflate == nil ? stored.checksum : nil }

  /// Drops mapped pages a front-to-back reader has consumed (uncompressed tensors).
  func discard(_ range: Range<Int>) {
    guard stored.deflate == nil else { return }
    checks.region.discardConsumed(
      (stored.offset + range.lowerBound)..<(stored.offset + range.upperBound), floor: stored.offset)
  }

  /// Copies an uncompressed tensor into `out` inside the kernel, once checked.
  func copy(into out: inout AtomicOutputFile) throws(GraftError) {
    precondition(stored.deflate == nil, "a deflated tensor has no bytes to copy as they are")
    try checks.check(index)
    try out.copy(from: checks.region, range: stored.offset..<(stored.offset + byteCount))
  }

  func copyBytes(in range: Range<Int>, into buffer: UnsafeMutableRawBufferPointer) throws {
    precondition(range.lowerBound >= 0 && range.upperBound <= byteCount && buffer.count == range.count)
    if range.isEmpty { return }
    try checks.check(index)
    let stored = self.stored
    guard let layout = stored.deflate else {
      buffer.copyMemory(
        from: checks.region.bytes(in: (stored.offset + range.lowerBound)..<(stored.offset + range.upperBound)))
      // Copied out: readers that copy stream the tensor once, so its pages need not stay resident.
      discard(range)
      return
    }
    try GraftFileDeflatedTensor.copy(
      stored, layout: layout, fileBytes: checks.region.bytes, range: range, into: buffer, file: checks.file,
      name: checks.tensors[index].name)
  }
}
