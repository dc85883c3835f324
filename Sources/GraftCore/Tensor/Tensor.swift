/// A tensor: dtype, shape and lazily read bytes in C (row-major) order, little-endian.
///
/// A block-quantized tensor (a GGUF `Q4_K` weight, say) is a Float32 tensor whose bytes are produced by
/// dequantizing, plus ``quantization``: the blocks as stored. Every reader of ``bytes`` sees correct values; writers
/// that cannot store blocks refuse such tensors (``requireUnquantized(writer:file:name:)``) instead of dequantizing
/// behind the user's back.
public struct Tensor: Sendable {
  /// The element type.
  public var dtype: DType {
    didSet { quantization = nil }
  }
  /// The dimensions; `[]` is a scalar (one element).
  public var shape: [Int] {
    didSet { quantization = nil }
  }
  /// The bytes.
  public var bytes: any TensorByteSource {
    didSet { quantization = nil }
  }
  /// The quantized blocks these values were decoded from, or `nil` for a plain tensor.
  ///
  /// Changing ``dtype``, ``shape`` or ``bytes`` clears it: the blocks no longer describe the values.
  public internal(set) var quantization: QuantizedStorage?

  /// Creates a tensor over a byte source whose size the caller has validated.
  public init(dtype: DType, shape: [Int], bytes: any TensorByteSource) {
    self.dtype = dtype
    self.shape = shape
    self.bytes = bytes
  }

  /// Creates a validated tensor: the shape's size must match the byte count.
  ///
  /// - Throws: `overflow` when the shape's size overflows, `invalidTensorInfo` when the sizes disagree.
  public static func validated(dtype: DType, shape: [Int], bytes: any TensorByteSource) throws(GraftError) -> Tensor {
    guard let count = Checked.product(shape), let expected = dtype.byteCount(elements: count) else {
      throw GraftError(.overflow, "shape \(shape) of \(dtype) overflows or does not end on a byte boundary")
    }
    guard expected == bytes.byteCount else {
      throw GraftError(
        .invalidTensorInfo, "shape \(shape) of \(dtype) needs \(expected) bytes but the data has \(bytes.byteCount)")
    }
    return Tensor(dtype: dtype, shape: shape, bytes: bytes)
  }

  /// Creates a tensor that owns a copy of `data`.
  public init(dtype: DType, shape: [Int], copying data: [UInt8]) {
    self.init(dtype: dtype, shape: shape, bytes: HeapBytes(data))
  }

  /// Creates a Float32 tensor from values.
  public init(float32 values: [Float], shape: [Int]) {
    precondition(Checked.product(shape) == values.count, "shape does not match the value count")
    self.init(
      dtype: .float32, shape: shape,
      bytes: HeapBytes(count: values.count * 4) { dst in
        values.withUnsafeBytes { src in dst.copyMemory(from: src) }
      })
  }

  /// The number of elements.
  public var elementCount: Int { Checked.product(shape) ?? 0 }
  /// The number of bytes.
  public var byteCount: Int { bytes.byteCount }

  /// Calls `body` with all bytes, zero-copy when possible, otherwise from a temporary buffer.
  public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
    if let direct = bytes.contiguousBytes { return try body(direct) }
    let temp = UnsafeMutableRawBufferPointer.allocate(byteCount: max(byteCount, 1), alignment: 64)
    defer { temp.deallocate() }
    let view = UnsafeMutableRawBufferPointer(rebasing: temp[0..<byteCount])
    try Self.readingInput { try bytes.copyBytes(in: 0..<byteCount, into: view) }
    return try body(UnsafeRawBufferPointer(view))
  }

  /// Returns a copy of all bytes.
  public func readAllBytes() throws -> [UInt8] { try withUnsafeBytes { Array($0) } }

  /// Streams the bytes in order, in chunks of at most `chunkSize`, through `body`.
  ///
  /// Mapped bytes are passed zero-copy and their pages dropped after use; produced bytes are decoded into one
  /// reused buffer. Memory stays bounded by `chunkSize` whatever the tensor's size.
  public func forEachChunk(
    chunkSize: Int = 8 << 20, _ body: (UnsafeRawBufferPointer) throws -> Void
  ) throws {
    let total = byteCount
    if let direct = bytes.contiguousBytes {
      var start = 0
      while start < total {
        let end = min(total, start + chunkSize)
        try body(UnsafeRawBufferPointer(rebasing: direct[start..<end]))
        bytes.discard(start..<end)
        start = end
      }
      return
    }
    let temp = UnsafeMutableRawBufferPointer.allocate(byteCount: max(min(chunkSize, total), 1), alignment: 64)
    defer { temp.deallocate() }
    var start = 0
    while start < total {
      let end = min(total, start + chunkSize)
      let view = UnsafeMutableRawBufferPointer(rebasing: temp[0..<(end - start)])
      try Self.readingInput { try bytes.copyBytes(in: start..<end, into: view) }
      try body(UnsafeRawBufferPointer(view))
      start = end
    }
  }

  /// Runs a read of the tensor's source, marking a failure as the input's, so that a reader's error met while a
  /// writer streams the tensor is not mistaken for the writer's.
  private static func readingInput(_ read: () throws -> Void) throws {
    do { try read() } catch let error as GraftError { throw error.side == nil ? error.on(.input) : error }
  }

  /// Streams the bytes into an output file: ``forEachChunk(chunkSize:_:)`` through `write`, advancing `progress`
  /// by each chunk, with errors naming `file` and the tensor `name` (a failure to produce the bytes becomes an `io`
  /// error).
  public func write(
    named name: String, file: String, progress: ProgressCounter?, _ write: (UnsafeRawBufferPointer) throws -> Void
  ) throws(GraftError) {
    do {
      try forEachChunk { chunk in
        try write(chunk)
        progress?.advance(by: chunk.count)
      }
    } catch let error as GraftError {
      throw error.inFile(file).forTensor(name)
    } catch {
      throw GraftError(.io, "cannot read the tensor's bytes", file: file, tensor: name, cause: error).on(.input)
    }
  }
}
