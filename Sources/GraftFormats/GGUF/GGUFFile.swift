public import GraftCore

/// One tensor's record in a GGUF file.
public struct GGUFTensorInfo: Sendable, Equatable {
  /// The tensor's name.
  public var name: String
  /// The stored type.
  public var type: GGMLType
  /// The dimensions in ggml order: `ne[0]` is the contiguous (fastest) axis.
  public var dimensions: [Int]
  /// The offset of the data from the start of the data section.
  public var offset: Int
  /// The number of elements.
  public var elementCount: Int
  /// The number of stored bytes.
  public var byteCount: Int
  /// The absolute file offset of this tensor's info record, for error messages.
  public var infoOffset: Int

  /// The shape in PyTorch/NumPy order (ggml's `ne` reversed): `[out, in]` for a weight stored as `ne = {in, out}`.
  public var shape: [Int] { dimensions.reversed() }
}

/// The resource caps the GGUF reader enforces on numbers read from a file, each before anything is allocated.
///
/// Every count is also checked against the bytes left in the file (at the smallest encoded size per item), so a
/// declared count can never make the reader allocate more than a small multiple of the file's size.
public enum GGUFLimits {
  /// Tensors per file.
  public static let maximumTensorCount = 1 << 22
  /// Key-value pairs per file.
  public static let maximumKeyValueCount = 1 << 20
  /// Bytes in a key (the specification's 65,535) or a tensor name.
  public static let maximumKeyLength = 65_535
  /// Bytes in one string value (ggml's `GGUF_MAX_STRING_LENGTH`).
  public static let maximumStringLength = 1 << 30
  /// Elements in one array (ggml's `GGUF_MAX_ARRAY_ELEMENTS`).
  public static let maximumArrayCount = 1 << 30
  /// Array elements in a whole file, all arrays together (a real vocabulary has ≤ 262,144 tokens).
  public static let maximumTotalArrayElements = 1 << 24
  /// Nesting of arrays in arrays (ggml accepts none).
  public static let maximumArrayDepth = 8
  /// Dimensions per tensor (`GGML_MAX_DIMS`).
  public static let maximumDimensions = 4
  /// The largest `general.alignment`.
  public static let maximumAlignment = 1 << 30
}

/// A parsed GGUF file: header, typed metadata, tensor infos and the mapped data section (`Formats/gguf.md`).
///
/// Opening reads only the header; tensor bytes stay in the memory mapping until read.
public struct GGUFFile: Sendable {
  /// The file.
  public let path: String
  /// The format version (2 or 3).
  public let version: Int
  /// The metadata in file order.
  public let keyValues: [GGUFKeyValue]
  /// The tensor infos in file order.
  public let tensors: [GGUFTensorInfo]
  /// `general.alignment`, or 32.
  public let alignment: Int
  /// The absolute offset of the data section.
  public let dataOffset: Int
  /// The file's size.
  public let fileSize: Int
  /// Whether the tensors follow each other in info order, each padded to the alignment, as ggml requires
  /// (`gguf.cpp` refuses other layouts; the specification allows any aligned, non-overlapping one).
  public let hasGGMLLayout: Bool
  let region: MappedRegion?

  /// The default `general.alignment`.
  public static let defaultAlignment = 32

  /// Maps and parses the file at `path`.
  ///
  /// - Throws: ``GraftError`` naming the file and byte offset: `unrecognizedFormat` (not GGUF), `unsupported`
  ///   (big-endian, version 1), `truncated`, `invalidHeader`, `limitExceeded`, `duplicateKey`, `unknownDType`,
  ///   `invalidTensorInfo`, `invalidOffset`, `overflow`.
  public static func open(path: String) throws(GraftError) -> GGUFFile {
    let region = try MappedRegion(path: path)
    return try parse(region.bytes, region: region, path: path)
  }

  /// Parses a whole GGUF file held in memory (numeric arrays are copied; tensor bytes are not readable).
  public static func parse(bytes: UnsafeRawBufferPointer, path: String = "<memory>") throws(GraftError) -> GGUFFile {
    try parse(bytes, region: nil, path: path)
  }

  /// The value of `key`, or `nil`.
  public func value(forKey key: String) -> GGUFValue? { keyValues.first { $0.key == key }?.value }

  /// `general.architecture`, when present and a string.
  public var architecture: String? { value(forKey: "general.architecture")?.stringValue }

  /// The info of the tensor named `name`, or `nil`.
  public func tensorInfo(named name: String) -> GGUFTensorInfo? { tensors.first { $0.name == name } }

  /// The absolute range of a tensor's bytes in the file.
  public func byteRange(of info: GGUFTensorInfo) -> Range<Int> {
    (dataOffset + info.offset)..<(dataOffset + info.offset + info.byteCount)
  }

  /// The stored bytes of a tensor, zero-copy.
  ///
  /// - Throws: `invalidArgument` for a file parsed from memory.
  public func storedBytes(of info: GGUFTensorInfo) throws(GraftError) -> MappedBytes {
    guard let region else {
      throw GraftError(.invalidArgument, "tensor bytes are readable only from a mapped file", file: path)
    }
    let range = byteRange(of: info)
    return MappedBytes(region: region, offset: range.lowerBound, count: range.count)
  }

  /// A tensor, with its shape in PyTorch order.
  ///
  /// Plain types are tensors of their dtype, zero-copy; block-quantized types are Float32 decoded lazily, with the
  /// blocks kept in ``Tensor/quantization``.
  ///
  /// Types Graft cannot decode (the IQ grid types, Q1_0, Q2_0) still load: their blocks can be copied to another
  /// GGUF file, and reading their values throws `unsupportedDType` naming the type.
  public func tensor(_ info: GGUFTensorInfo) throws(GraftError) -> Tensor {
    let stored = try storedBytes(of: info)
    if let dtype = info.type.plainDType {
      return Tensor(dtype: dtype, shape: info.shape, bytes: stored)
    }
    let decoder = BlockDecoder(type: info.type, blocks: stored, tensor: info.name, file: path)
    let values = ProducedBytes(byteCount: info.elementCount * 4, storage: stored) { range, buffer in
      try decoder.produce(range, into: buffer)
    }
    return Tensor(
      shape: info.shape, dequantized: values, blocks: QuantizedStorage(format: info.type.blockFormat, blocks: stored))
  }
}

/// Decodes the Float32 bytes of any byte range of a block-quantized tensor, a few blocks at a time, reading the
/// blocks where they lie in the mapping.
struct BlockDecoder: Sendable {
  let type: GGMLType
  let blocks: MappedBytes
  let tensor: String
  let file: String

  /// Blocks decoded per step (a 256-element type: 256 KiB of floats).
  static let blocksPerStep = 256

  func produce(_ range: Range<Int>, into out: UnsafeMutableRawBufferPointer) throws {
    do { try GGUFDequantize.requireSupported(type) } catch { throw error.inFile(file).forTensor(tensor) }
    guard !range.isEmpty else { return }
    let blockFloats = type.blockElements * 4
    var block = range.lowerBound / blockFloats
    let lastBlock = (range.upperBound + blockFloats - 1) / blockFloats
    guard lastBlock * type.blockBytes <= blocks.byteCount, let stored = blocks.contiguousBytes?.baseAddress else {
      throw GraftError(
        .invalidArgument, "float bytes \(range) lie past the tensor's \(blocks.byteCount / type.blockBytes) blocks",
        file: file, tensor: tensor)
    }
    let stepBlocks = min(Self.blocksPerStep, max(lastBlock - block, 1))
    let floats = UnsafeMutablePointer<Float>.allocate(capacity: stepBlocks * type.blockElements)
    defer { floats.deallocate() }
    while block < lastBlock {
      let count = min(stepBlocks, lastBlock - block)
      let source = (block * type.blockBytes)..<((block + count) * type.blockBytes)
      let base = stored + source.lowerBound
      try GGUFDequantize.decode(type, blocks: base, blockCount: count, into: floats)
      blocks.discard(source)
      // Copy the part of these decoded floats that falls in `range`.
      let decodedStart = block * blockFloats
      let from = max(range.lowerBound, decodedStart)
      let to = min(range.upperBound, decodedStart + count * blockFloats)
      if to > from, let dst = out.baseAddress {
        (dst + (from - range.lowerBound)).copyMemory(
          from: UnsafeRawPointer(floats) + (from - decodedStart), byteCount: to - from)
      }
      block += count
    }
  }
}
