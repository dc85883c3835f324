import GraftCore
import Synchronization

/// The source bytes of a lazy permutation: used in place when addressable, otherwise read once and kept.
///
/// A permutation reads its source in scattered order, so a producer source (a decompressed or HDF5 dataset) would be
/// re-decoded for every output chunk; one cached copy bounds the cost at one tensor's memory.
final class PermutationSource: Sendable {
  private let tensor: Tensor
  private let cache = Mutex<HeapBytes?>(nil)

  init(_ tensor: Tensor) { self.tensor = tensor }

  func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
    if let direct = tensor.bytes.contiguousBytes { return try body(direct) }
    let heap = try cache.withLock { cached -> HeapBytes in
      if let cached { return cached }
      let source = tensor.bytes
      let loaded = try HeapBytes(count: source.byteCount) { try source.copyBytes(in: 0..<source.byteCount, into: $0) }
      cached = loaded
      return loaded
    }
    guard let bytes = heap.contiguousBytes else { return try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
    return try body(bytes)
  }
}
