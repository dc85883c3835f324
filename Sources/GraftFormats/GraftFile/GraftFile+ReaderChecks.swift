public import GraftCore
import Synchronization

/// The bytes of one `.graft` tensor, checked against the XXH64 its index stores on the way out.
///
/// A front-to-back reader (a writer streaming the tensor chunk by chunk, or one read of the whole tensor) is hashed as
/// it goes, so the check costs no extra pass: the hash runs over each chunk just copied, while it is still in the CPU
/// cache. The chunk that completes the tensor fails with `checksumMismatch` (file, tensor, byte offset) when the hash
/// differs, before it is handed out; a reader of the whole tensor in one call therefore never sees a corrupt byte,
/// and a streaming writer fails before it commits, so its atomic output never appears. Any other access pattern
/// (a range in the middle first) hashes the whole stored tensor once before serving it. Once checked, an uncompressed
/// tensor is also served zero-copy (``contiguousBytes``).
final class GraftFileCheckedBytes: FileBackedBytes, Sendable {
  private enum State: Sendable {
    /// The first `next` bytes were handed out in order. `hash` covers the bytes before `hashedTo`, or, while
    /// `pending` runs, the bytes before the window it hashes on another thread, which ends at `hashedTo`.
    case streaming(next: Int, hash: XXHash64, pending: BackgroundWork<XXHash64>?, hashedTo: Int)
    case verified
    case failed(GraftError)
  }

  let region: MappedRegion
  let tensor: GraftFileStoredTensor
  let file: String
  let name: String
  let byteCount: Int
  private let state = Mutex<State>(.streaming(next: 0, hash: XXHash64(), pending: nil, hashedTo: 0))

  init(region: MappedRegion, tensor: GraftFileStoredTensor, file: String, name: String) {
    self.region = region
    self.tensor = tensor
    self.file = file
    self.name = name
    self.byteCount = tensor.byteCount
  }

  /// The mapped bytes once the tensor has been checked (uncompressed tensors only); `nil` before, so that every
  /// first read goes through the check.
  var contiguousBytes: UnsafeRawBufferPointer? {
    guard tensor.deflate == nil, state.withLock({ if case .verified = $0 { true } else { false } }) else {
      return nil
    }
    return region.bytes(in: tensor.offset..<(tensor.offset + byteCount))
  }

  /// Where an uncompressed tensor's bytes are.
  var fileOffset: Int? { tensor.deflate == nil ? tensor.offset : nil }

  /// Copies an uncompressed tensor into `out` inside the kernel while another thread hashes it from the mapping, and
  /// fails before returning when the hash differs: the copy keeps `copy_file_range`'s speed and the check runs on
  /// the second core.
  func copy(into out: inout AtomicOutputFile) throws(GraftError) {
    precondition(tensor.deflate == nil, "a deflated tensor has no bytes to copy as they are")
    let range = tensor.offset..<(tensor.offset + byteCount)
    switch state.withLock({ $0 }) {
    case .failed(let error): throw error
    case .verified: return try out.copy(from: region, range: range)
    case .streaming: break
    }
    let hashing = BackgroundWork { [region, tensor] in
      GraftFileVerifier.hash(
        region.bytes, range: tensor.storedRange, discard: { region.discardConsumed($0, floor: tensor.offset) })
    }
    let copied = Result { () throws(GraftError) in try out.copy(from: region, range: range) }
    let actual = hashing.wait()
    try state.withLock { (s: inout State) throws(GraftError) -> Void in
      guard actual == tensor.checksum else {
        let error = mismatch(actual: actual, expected: tensor.checksum, what: "stored bytes")
        s = .failed(error)
        throw error
      }
      s = .verified
    }
    try copied.get()
  }

  /// Drops mapped pages a front-to-back reader has consumed (uncompressed tensors).
  func discard(_ range: Range<Int>) {
    guard tensor.deflate == nil else { return }
    region.discardConsumed(
      (tensor.offset + range.lowerBound)..<(tensor.offset + range.upperBound), floor: tensor.offset)
  }

  func copyBytes(in range: Range<Int>, into buffer: UnsafeMutableRawBufferPointer) throws {
    precondition(range.lowerBound >= 0 && range.upperBound <= byteCount && buffer.count == range.count)
    if range.isEmpty { return }
    try state.withLock { (s: inout State) throws(GraftError) -> Void in
      switch s {
      case .failed(let error):
        throw error
      case .verified:
        try produce(range, into: buffer)
      case .streaming(let next, var hash, var pending, var hashedTo) where range.lowerBound == next:
        if tensor.deflate == nil {
          // The mapped bytes are hashed on another thread, a window of at least 8 MiB ahead, while this one copies
          // them out; only the chunk that completes the tensor waits for the hash.
          if range.upperBound > hashedTo {
            if let job = pending { hash = job.wait() }
            // Copied and hashed: the pages since the last window can go.
            discard(max(0, next - 2 * GraftFileLayout.chunkSize)..<next)
            let window = hashedTo..<min(byteCount, max(range.upperBound, hashedTo + GraftFileLayout.chunkSize))
            pending = BackgroundWork { [region, tensor, hash] in
              var h = hash
              h.update(region.bytes(in: (tensor.offset + window.lowerBound)..<(tensor.offset + window.upperBound)))
              return h
            }
            hashedTo = window.upperBound
          }
          try produce(range, into: buffer)
          guard range.upperBound == byteCount else {
            s = .streaming(next: range.upperBound, hash: hash, pending: pending, hashedTo: hashedTo)
            return
          }
          if let job = pending { hash = job.wait() }
        } else {
          try produce(range, into: buffer, hashing: &hash)
          guard range.upperBound == byteCount else {
            s = .streaming(next: range.upperBound, hash: hash, pending: nil, hashedTo: range.upperBound)
            return
          }
        }
        let actual = hash.finalize()
        guard actual == tensor.digest else {
          let error = mismatch(
            actual: actual, expected: tensor.digest,
            what: tensor.deflate == nil ? "stored bytes" : "decompressed bytes")
          s = .failed(error)
          throw error
        }
        s = .verified
        discard(max(0, byteCount - 2 * GraftFileLayout.chunkSize)..<byteCount)
      case .streaming(_, _, let pending, _):
        // Not the next range in order: check the whole stored tensor once, then serve any range.
        _ = pending?.wait()
        let actual = GraftFileVerifier.hash(
          region.bytes, range: tensor.storedRange,
          discard: { [region, tensor] in region.discardConsumed($0, floor: tensor.offset) })
        guard actual == tensor.checksum else {
          let error = mismatch(actual: actual, expected: tensor.checksum, what: "stored bytes")
          s = .failed(error)
          throw error
        }
        s = .verified
        try produce(range, into: buffer)
      }
    }
  }

  /// The bytes of `range`, uncompressed, added to `hash` piece by piece: each piece is hashed right after it is
  /// copied, while it is still in the cache.
  private func produce(
    _ range: Range<Int>, into buffer: UnsafeMutableRawBufferPointer, hashing hash: inout XXHash64
  ) throws(GraftError) {
    let piece = tensor.deflate?.blockSize ?? (1 << 20)
    var start = 0
    while start < range.count {
      let end = min(range.count, start + piece)
      let part = UnsafeMutableRawBufferPointer(rebasing: buffer[start..<end])
      try produce((range.lowerBound + start)..<(range.lowerBound + end), into: part)
      hash.update(UnsafeRawBufferPointer(part))
      start = end
    }
  }

  /// The bytes of `range`, uncompressed, without any check.
  private func produce(_ range: Range<Int>, into buffer: UnsafeMutableRawBufferPointer) throws(GraftError) {
    guard let layout = tensor.deflate else {
      buffer.copyMemory(from: region.bytes(in: (tensor.offset + range.lowerBound)..<(tensor.offset + range.upperBound)))
      return
    }
    try GraftFileDeflatedTensor.copy(
      tensor, layout: layout, fileBytes: region.bytes, range: range, into: buffer, file: file, name: name)
  }

  private func mismatch(actual: UInt64, expected: UInt64, what: String) -> GraftError {
    let count = what == "stored bytes" ? tensor.storedLength : tensor.byteCount
    return GraftError(
      .checksumMismatch,
      "the \(count) \(what) hash to \(XXHash64.format(actual)) but the index says \(XXHash64.format(expected)); "
        + "the file is corrupt (graft verify lists every damaged tensor)", file: file, tensor: name,
      byteOffset: tensor.offset
    ).on(.input)
  }
}
