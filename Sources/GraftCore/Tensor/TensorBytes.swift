/// Where a tensor's bytes come from.
///
/// Checkpoint readers return tensors whose bytes are not read yet: a slice of a memory-mapped file (zero-copy), a
/// heap buffer, or a producer that decodes on demand (a strided PyTorch view, a deflated member, an HDF5 dataset).
/// Writers stream the bytes through ``copyBytes(in:into:)`` in bounded chunks, so no conversion needs a whole
/// checkpoint in memory.
public protocol TensorByteSource: AnyObject, Sendable {
  /// The number of bytes.
  var byteCount: Int { get }
  /// The bytes in place, when they are addressable without a copy; `nil` for producers.
  var contiguousBytes: UnsafeRawBufferPointer? { get }
  /// Copies the bytes in `range` into `buffer` (`buffer.count == range.count`).
  func copyBytes(in range: Range<Int>, into buffer: UnsafeMutableRawBufferPointer) throws
  /// Says the bytes in `range` will not be needed again soon, so backing pages may be dropped.
  func discard(_ range: Range<Int>)
  /// A stable identity of the underlying storage, used to recognise aliases (two names, one storage).
  var storageIdentity: ObjectIdentifier { get }
}

extension TensorByteSource {
  /// Producers have nothing to drop by default.
  public func discard(_ range: Range<Int>) {}
  /// The source object itself is the storage by default.
  public var storageIdentity: ObjectIdentifier { ObjectIdentifier(self) }
}

/// Bytes inside a memory-mapped file.
public final class MappedBytes: TensorByteSource {
  // Invariant: immutable; `region` keeps the mapping alive for as long as these bytes exist.
  /// The mapping.
  public let region: MappedRegion
  /// The absolute offset of the first byte in the file.
  public let offset: Int
  /// The number of bytes.
  public let byteCount: Int

  /// Creates a view of `count` bytes at `offset` of `region`, which the caller has bounds-checked.
  public init(region: MappedRegion, offset: Int, count: Int) {
    precondition(offset >= 0 && count >= 0 && offset + count <= region.count, "mapped slice outside the file")
    self.region = region
    self.offset = offset
    self.byteCount = count
  }

  /// The bytes, zero-copy.
  public var contiguousBytes: UnsafeRawBufferPointer? { region.bytes(in: offset..<(offset + byteCount)) }

  /// Copies from the mapping.
  public func copyBytes(in range: Range<Int>, into buffer: UnsafeMutableRawBufferPointer) throws {
    precondition(range.lowerBound >= 0 && range.upperBound <= byteCount && buffer.count == range.count)
    guard let dst = buffer.baseAddress, !range.isEmpty else { return }
    dst.copyMemory(from: region.base + offset + range.lowerBound, byteCount: range.count)
  }

  /// Drops the mapping's pages for the range, which a front-to-back reader has consumed.
  public func discard(_ range: Range<Int>) {
    region.discardConsumed((offset + range.lowerBound)..<(offset + range.upperBound), floor: offset)
  }
}

/// Bytes owned on the heap, 64-byte aligned.
public final class HeapBytes: TensorByteSource, @unchecked Sendable {
  // Invariant: the buffer is written only during construction (through `initialize`), then read-only.
  private let storage: UnsafeMutableRawBufferPointer

  /// Allocates `count` bytes and lets `initialize` fill them.
  public init(count: Int, initialize: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows {
    storage = .allocate(byteCount: max(count, 1), alignment: 64)
    let view = UnsafeMutableRawBufferPointer(rebasing: storage[0..<count])
    do { try initialize(view) } catch {
      storage.deallocate()
      throw error
    }
    byteCount = count
  }

  /// Copies `bytes`.
  public convenience init(copying bytes: UnsafeRawBufferPointer) {
    self.init(count: bytes.count) { dst in
      if let s = bytes.baseAddress, let d = dst.baseAddress { d.copyMemory(from: s, byteCount: bytes.count) }
    }
  }

  /// Copies an array of bytes.
  public convenience init(_ bytes: [UInt8]) {
    self.init(count: bytes.count) { dst in bytes.withUnsafeBytes { dst.copyMemory(from: $0) } }
  }

  deinit { storage.deallocate() }

  /// The number of bytes.
  public let byteCount: Int
  /// The bytes, zero-copy.
  public var contiguousBytes: UnsafeRawBufferPointer? {
    UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(storage)[0..<byteCount])
  }
  /// Copies from the heap.
  public func copyBytes(in range: Range<Int>, into buffer: UnsafeMutableRawBufferPointer) throws {
    precondition(range.lowerBound >= 0 && range.upperBound <= byteCount && buffer.count == range.count)
    guard let dst = buffer.baseAddress, let src = storage.baseAddress, !range.isEmpty else { return }
    dst.copyMemory(from: src + range.lowerBound, byteCount: range.count)
  }
}

/// Bytes computed on demand by a closure (decompression, strided gathers, casts, library reads).
public final class ProducedBytes: TensorByteSource, @unchecked Sendable {
  // Invariant: immutable after init; `identity` is only compared, never used.
  /// Fills a buffer with the bytes of a range.
  public typealias Producer = @Sendable (Range<Int>, UnsafeMutableRawBufferPointer) throws -> Void
  private let producer: Producer
  private let identity: AnyObject?
  /// The number of bytes.
  public let byteCount: Int

  /// Creates a producer of `byteCount` bytes.
  ///
  /// `storage`, when given, identifies the underlying storage for alias
  /// detection (two producers over one storage are aliases only if their views are equal, which callers decide).
  public init(byteCount: Int, storage: AnyObject? = nil, producer: @escaping Producer) {
    self.byteCount = byteCount
    self.producer = producer
    self.identity = storage
  }

  /// Producers are not addressable in place.
  public var contiguousBytes: UnsafeRawBufferPointer? { nil }
  /// Runs the producer.
  public func copyBytes(in range: Range<Int>, into buffer: UnsafeMutableRawBufferPointer) throws {
    precondition(range.lowerBound >= 0 && range.upperBound <= byteCount && buffer.count == range.count)
    if range.isEmpty { return }
    try producer(range, buffer)
  }
  /// The storage identity given at creation, or this object.
  public var storageIdentity: ObjectIdentifier { identity.map(ObjectIdentifier.init) ?? ObjectIdentifier(self) }
}
