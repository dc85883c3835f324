/// A byte source whose bytes lie as they are at a known offset of a file, so that `inspect` can show where and
/// writers can copy them inside the kernel.
public protocol FileBackedBytes: TensorByteSource {
  /// The absolute offset of the first byte in the file, or `nil` when the bytes are not stored as they are
  /// (compressed, for instance); ``copy(into:)`` is only for sources with an offset.
  var fileOffset: Int? { get }

  /// Appends every byte to `out`, copied inside the kernel where the file systems allow it
  /// (``AtomicOutputFile/copy(from:range:)``), with whatever check the source makes on its bytes.
  func copy(into out: inout AtomicOutputFile) throws(GraftError)
}

extension MappedBytes: FileBackedBytes {
  /// The offset of the slice in the mapped file.
  public var fileOffset: Int? { offset }

  /// Copies the slice inside the kernel.
  public func copy(into out: inout AtomicOutputFile) throws(GraftError) {
    try out.copy(from: region, range: offset..<(offset + byteCount))
  }
}
