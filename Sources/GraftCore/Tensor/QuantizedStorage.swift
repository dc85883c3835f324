/// A block quantization scheme: a fixed number of elements stored in a fixed number of bytes (ggml's `Q4_K`: 256
/// elements in 144 bytes).
///
/// GraftCore does not know how to decode blocks; the format that reads them (GGUF) supplies the decoder as the
/// tensor's byte producer. This type only carries what every layer needs to size, name and compare them.
public struct BlockFormat: Sendable, Hashable, CustomStringConvertible {
  /// The scheme's name as its format spells it (`Q4_K`).
  public var name: String
  /// The format's number for the scheme (the ggml type id, 12 for `Q4_K`).
  public var code: Int
  /// Elements per block.
  public var blockElements: Int
  /// Bytes per block.
  public var blockBytes: Int

  /// Creates a scheme description.
  public init(name: String, code: Int, blockElements: Int, blockBytes: Int) {
    self.name = name
    self.code = code
    self.blockElements = blockElements
    self.blockBytes = blockBytes
  }

  /// The bytes `elements` elements occupy, or `nil` when they are not a whole number of blocks or overflow.
  public func byteCount(elements: Int) -> Int? {
    guard elements >= 0, blockElements > 0, elements % blockElements == 0 else { return nil }
    return Checked.multiply(elements / blockElements, blockBytes)
  }

  /// The name.
  public var description: String { name }
}

/// The stored form of a block-quantized tensor.
public struct QuantizedStorage: Sendable {
  /// The scheme.
  public var format: BlockFormat
  /// The blocks, in the tensor's row-major element order.
  public var blocks: any TensorByteSource

  /// Creates a description of stored blocks.
  public init(format: BlockFormat, blocks: any TensorByteSource) {
    self.format = format
    self.blocks = blocks
  }
}

extension Tensor {
  /// Creates a block-quantized tensor: Float32 values produced by `dequantized`, stored as `blocks`.
  ///
  /// `dequantized` must produce `4 × elements` bytes: the Float32 values the blocks decode to.
  public init(shape: [Int], dequantized: any TensorByteSource, blocks: QuantizedStorage) {
    self.init(dtype: .float32, shape: shape, bytes: dequantized)
    quantization = blocks
  }

  /// Whether the tensor is stored as quantized blocks.
  public var isQuantized: Bool { quantization != nil }

  /// The stored type's name: the block scheme for quantized tensors (`Q4_K`), else the dtype (`F16`).
  public var storageTypeName: String { quantization?.format.name ?? dtype.rawValue }

  /// The bytes as stored: the blocks of a quantized tensor, else ``byteCount``.
  public var storedByteCount: Int { quantization?.blocks.byteCount ?? byteCount }

  /// The same values as a plain tensor of `dtype` (Float32, Float16 or BFloat16), decoded lazily.
  ///
  /// Float32 is exactly what the blocks decode to; Float16 and BFloat16 round those values to nearest even. A plain
  /// tensor is returned unchanged when it already has `dtype`, else cast the same way.
  ///
  /// - Throws: `unsupportedDType` for any other target dtype or a tensor that cannot be cast.
  public func dequantized(to target: DType = .float32) throws(GraftError) -> Tensor {
    guard target == .float32 || target == .float16 || target == .bfloat16 else {
      throw GraftError(.unsupportedDType, "dequantize to F32, F16 or BF16, not \(target)")
    }
    let plain = Tensor(dtype: dtype, shape: shape, bytes: bytes)
    if plain.dtype == target { return plain }
    return try Cast.lazily(plain, to: target, options: CastOptions(), collector: CastReportCollector())
  }

  /// Throws unless the tensor is plain: for writers that store only dtype elements, never quantized blocks.
  ///
  /// - Parameters:
  ///   - writer: The format's name, for the message (`safetensors`).
  ///   - file: The file being written.
  ///   - name: The tensor's name.
  /// - Throws: `unsupportedDType` naming the block scheme and how to proceed.
  public func requireUnquantized(writer: String, file: String?, name: String) throws(GraftError) {
    guard let quantization else { return }
    throw GraftError(
      .unsupportedDType,
      "is stored as \(quantization.format.name) blocks, which \(writer) cannot store; dequantize it explicitly to "
        + "F32, F16 or BF16 (Tensor.dequantized(to:)), or write GGUF, which keeps the blocks",
      file: file, tensor: name
    ).resolved(by: "dtype")
  }
}

extension TensorTable {
  /// Throws for the first quantized tensor: for writers that cannot store blocks (see
  /// ``Tensor/requireUnquantized(writer:file:name:)``).
  public func requireUnquantized(writer: String, file: String?) throws(GraftError) {
    for e in entries { try e.tensor.requireUnquantized(writer: writer, file: file, name: e.name) }
  }
}
