public import GraftCore

extension GGUF {
  /// One tensor to write: its name, its values (any dtype, or quantized blocks) and the type to store them as.
  ///
  /// A converter streams a model into the writer by listing plans whose tensors are lazy (mapped, cast or permuted
  /// on demand): the header is computed from names, types and shapes alone, then each tensor is read once, in
  /// bounded chunks.
  public struct TensorPlan: Sendable {
    /// The GGUF tensor name (at most 63 bytes, ggml's `GGML_MAX_NAME`).
    public var name: String
    /// The values, in PyTorch shape order.
    public var tensor: Tensor
    /// The stored type.
    public var type: GGMLType

    /// Creates a plan.
    public init(name: String, tensor: Tensor, type: GGMLType) {
      self.name = name
      self.tensor = tensor
      self.type = type
    }
  }

  /// How to lay out the files.
  public struct WriteOptions: Sendable {
    /// The data alignment (`general.alignment`); a power of two, 32 by default as in ggml.
    public var alignment = GGUFFile.defaultAlignment
    /// Start a new split before a tensor that would take the split's tensor bytes over this (llama.cpp's
    /// `--split-max-size`, counted as gguf-py counts: unpadded tensor bytes, at least one tensor per split).
    public var splitMaxBytes: Int?
    /// Start a new split after this many tensors (`--split-max-tensors`).
    public var splitMaxTensors: Int?
    /// Creates default options: one file, 32-byte alignment.
    public init() {}
  }

  /// ggml's `GGML_MAX_NAME`: tensor names must be shorter.
  public static let maximumTensorNameBytes = 63

  /// A tensor whose header facts are validated.
  struct PlannedTensor {
    var plan: TensorPlan
    var dimensions: [Int]
    var elementCount: Int
    var byteCount: Int
  }

  /// Writes GGUF v3.
  ///
  /// The key-values in order, then the tensor infos and the data in plan order, each tensor padded to the
  /// alignment. With a split limit, writes `<stem>-0000K-of-0000N.gguf` files like gguf-py and gguf-split:
  /// the first carries every key-value, every split carries `split.no` (u16), `split.count` (u16) and
  /// `split.tensors.count` (i32). Each file is written atomically.
  ///
  /// - Throws: `invalidArgument` for a bad plan (duplicate or over-long names, more than 4 dimensions, a row that is
  ///   not a whole number of blocks, a bad alignment), `unsupportedDType` for a type Graft cannot encode, and
  ///   `invalidTensorInfo` for non-finite values bound for a quantized type; plus I/O errors.
  @discardableResult
  public static func write(
    keyValues: [GGUFKeyValue], tensors: [TensorPlan], to path: String, options: WriteOptions = WriteOptions(),
    inputs: [String] = [], progress: ProgressCounter? = nil
  ) throws -> WriteSummary {
    var notes: [String] = []
    let kvs = try validatedKeyValues(keyValues, options: options, file: path, notes: &notes)
    let planned = try tensors.map { (p) throws(GraftError) -> PlannedTensor in try validated(p, file: path) }
    var names = Set<String>()
    for p in planned where !names.insert(p.plan.name).inserted {
      throw GraftError(.duplicateKey, "the tensor name appears twice", file: path, tensor: p.plan.name)
    }
    let shards = assignSplits(planned, options: options)
    progress?.expect(planned.reduce(0) { $0 + $1.byteCount })
    if shards.count == 1 {
      let written = try writeFile(kvs, planned, to: path, options: options, inputs: inputs, progress: progress)
      return WriteSummary(files: [path], bytesWritten: written, storedTensorCount: planned.count, notes: notes)
    }
    guard shards.count <= Int(UInt16.max), planned.count <= Int(Int32.max) else {
      throw GraftError(
        .invalidArgument, "\(shards.count) splits exceed the 65,535 that split.count (u16) can hold",
        file: path)
    }
    let stem = path.hasSuffix(".gguf") ? String(path.dropLast(5)) : path
    var files: [String] = []
    var total = 0
    for (k, shard) in shards.enumerated() {
      let split: [GGUFKeyValue] = [
        GGUFKeyValue("split.no", .uint16(UInt16(k))), GGUFKeyValue("split.count", .uint16(UInt16(shards.count))),
        GGUFKeyValue("split.tensors.count", .int32(Int32(planned.count))),
      ]
      let file = SplitName(prefix: stem, index: k, count: shards.count).path(index: k)
      total += try writeFile(
        (k == 0 ? kvs : []) + split, shard, to: file, options: options, inputs: inputs, progress: progress)
      files.append(file)
    }
    return WriteSummary(files: files, bytesWritten: total, storedTensorCount: planned.count, notes: notes)
  }

  static func validatedKeyValues(
    _ keyValues: [GGUFKeyValue], options: WriteOptions, file: String, notes: inout [String]
  ) throws(GraftError) -> [GGUFKeyValue] {
    let a = options.alignment
    guard a > 0, a & (a - 1) == 0, a <= GGUFLimits.maximumAlignment, a <= Int(UInt32.max) else {
      throw GraftError(.invalidArgument, "the alignment \(a) is not a power of two", file: file)
    }
    var keys = Set<String>()
    var out: [GGUFKeyValue] = []
    for kv in keyValues {
      guard !kv.key.isEmpty, kv.key.utf8.count <= GGUFLimits.maximumKeyLength else {
        throw GraftError(.invalidArgument, "a metadata key must have 1 to 65,535 bytes: '\(kv.key)'", file: file)
      }
      guard keys.insert(kv.key).inserted else {
        throw GraftError(.duplicateKey, "the metadata key '\(kv.key)' appears twice", file: file)
      }
      if splitKeys.contains(kv.key) {
        notes.append("metadata '\(kv.key)' dropped: the writer sets the split keys itself")
        continue
      }
      if kv.key == "general.alignment" && kv.value != .uint32(UInt32(a)) {
        throw GraftError(
          .invalidArgument,
          "general.alignment is \(kv.value.json.serialized()) (\(kv.value.type)) but the writer aligns to \(a); "
            + "set WriteOptions.alignment to match, or drop the key", file: file)
      }
      out.append(kv)
    }
    if a != GGUFFile.defaultAlignment && !keys.contains("general.alignment") {
      out.append(GGUFKeyValue("general.alignment", .uint32(UInt32(a))))
    }
    return out
  }

  static func validated(_ plan: TensorPlan, file: String) throws(GraftError) -> PlannedTensor {
    func bad(_ message: String) -> GraftError {
      GraftError(.invalidArgument, message, file: file, tensor: plan.name)
    }
    guard !plan.name.isEmpty, plan.name.utf8.count <= maximumTensorNameBytes else {
      throw bad("a GGUF tensor name must have 1 to \(maximumTensorNameBytes) bytes (ggml's GGML_MAX_NAME is 64)")
    }
    let shape = plan.tensor.shape
    guard shape.count <= GGUFLimits.maximumDimensions else {
      throw bad("has \(shape.count) dimensions; ggml allows at most \(GGUFLimits.maximumDimensions)")
    }
    guard let elements = Checked.product(shape) else { throw bad("shape \(shape) overflows") }
    let rowLength = shape.last ?? 1
    guard rowLength % plan.type.blockElements == 0, let bytes = plan.type.byteCount(elements: elements) else {
      throw bad(
        "rows of \(rowLength) elements are not a whole number of \(plan.type.name) blocks of "
          + "\(plan.type.blockElements); store it as F16 or F32")
    }
    return PlannedTensor(plan: plan, dimensions: shape.reversed(), elementCount: elements, byteCount: bytes)
  }

  /// gguf-py's `add_tensor_info` rule: a new split when the current one has tensors and adding this one would
  /// exceed the tensor count or the byte limit.
  static func assignSplits(_ tensors: [PlannedTensor], options: WriteOptions) -> [[PlannedTensor]] {
    var shards: [[PlannedTensor]] = [[]]
    var bytes = 0
    for t in tensors {
      let current = shards[shards.count - 1]
      if !current.isEmpty {
        let overCount = options.splitMaxTensors.map { current.count >= $0 } ?? false
        let overSize = options.splitMaxBytes.map { bytes + t.byteCount > $0 } ?? false
        if overCount || overSize {
          shards.append([])
          bytes = 0
        }
      }
      shards[shards.count - 1].append(t)
      bytes += t.byteCount
    }
    return shards
  }

  /// The header up to the data section: magic, version, counts, key-values, tensor infos, zero padding.
  static func encodeHeader(
    _ keyValues: [GGUFKeyValue], _ tensors: [PlannedTensor], alignment: Int
  ) throws -> [UInt8] {
    var bytes: [UInt8] = GGUFFile.magic
    GGUFEncoding.append(UInt32(3), to: &bytes)
    GGUFEncoding.append(UInt64(tensors.count), to: &bytes)
    GGUFEncoding.append(UInt64(keyValues.count), to: &bytes)
    for kv in keyValues { try GGUFEncoding.appendRecord(kv, to: &bytes) }
    var offset = 0
    for t in tensors {
      GGUFEncoding.appendString(t.plan.name, to: &bytes)
      GGUFEncoding.append(UInt32(t.dimensions.count), to: &bytes)
      for d in t.dimensions { GGUFEncoding.append(UInt64(d), to: &bytes) }
      GGUFEncoding.append(t.plan.type.rawValue, to: &bytes)
      GGUFEncoding.append(UInt64(offset), to: &bytes)
      offset += padding(t.byteCount, alignment) + t.byteCount
    }
    bytes.append(contentsOf: repeatElement(0, count: padding(bytes.count, alignment)))
    return bytes
  }

  /// The zero bytes that take `count` to a multiple of `alignment`.
  static func padding(_ count: Int, _ alignment: Int) -> Int { (alignment - count % alignment) % alignment }

  /// Writes one file; returns its size.
  static func writeFile(
    _ keyValues: [GGUFKeyValue], _ tensors: [PlannedTensor], to path: String, options: WriteOptions,
    inputs: [String], progress: ProgressCounter?
  ) throws -> Int {
    let header = try encodeHeader(keyValues, tensors, alignment: options.alignment)
    var out = try AtomicOutputFile(destination: path, inputs: inputs)
    try out.write(header)
    for t in tensors {
      do {
        try TensorEncoder(planned: t).write(into: &out, progress: progress)
      } catch let error as GraftError {
        throw error.inFile(path).forTensor(t.plan.name)
      }
      try out.writeZeros(padding(t.byteCount, options.alignment))
    }
    let size = out.position
    try out.commit()
    return size
  }
}
