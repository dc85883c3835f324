public import GraftCore

extension SafeTensors {
  /// Writes a table as one `.safetensors` file, byte-identical to the Python `safetensors` writer.
  ///
  /// Tensors are stored by descending dtype (the crate's enum order), then by name; the header is compact JSON with
  /// `__metadata__` first, padded with spaces to a multiple of 8. The header is computed from shapes and dtypes
  /// alone, then each tensor's bytes are streamed into a temporary file that is renamed over `path` at the end, so
  /// memory stays bounded and a failure never leaves a partial file.
  ///
  /// - Parameters:
  ///   - table: The tensors, metadata and aliases. Non-string metadata values are stored as compact JSON text.
  ///   - path: The destination file.
  ///   - options: Metadata and alias handling.
  ///   - inputs: Files being read; writing over one of them is refused.
  ///   - progress: Advanced by the number of tensor bytes written.
  /// - Throws: ``GraftError`` (`unsupportedDType` for C128, `limitExceeded` for a header over 100 MB, size
  ///   disagreements, I/O), or an error from a tensor's byte source.
  public static func write(
    _ table: TensorTable, to path: String, options: WriteOptions = .init(), inputs: [String] = [],
    progress: ProgressCounter? = nil
  ) throws -> WriteSummary {
    let stored = try storedEntries(of: table, options: options, file: path)
    var members = OrderedMembers()
    if options.addFormatKey && table.metadata["format"] == nil { members.set("format", "pt") }
    for (key, value) in table.metadata { members.set(key, .string(value.stringValue ?? value.serialized(.compact))) }
    for (alias, target) in stored.aliasRecords { members.set(alias, .string(target)) }
    var metadata = members.object
    if options.sortMetadataKeys { metadata = sortedByUTF8(metadata) }
    let written = try writeFile(stored.entries, metadata: metadata, to: path, inputs: inputs, progress: progress)
    return WriteSummary(
      files: [path], bytesWritten: written, storedTensorCount: stored.entries.count, notes: stored.notes)
  }

  /// A tensor about to be written, with its validated size.
  struct PlannedTensor {
    var name: String
    var tensor: Tensor
    var byteCount: Int
  }

  /// The tensors a table stores under the alias policy, in table order, plus the aliases to record in metadata.
  static func storedEntries(
    of table: TensorTable, options: WriteOptions, file: String
  ) throws(GraftError) -> (entries: [PlannedTensor], aliasRecords: [(String, String)], notes: [String]) {
    var entries: [PlannedTensor] = []
    var aliasRecords: [(String, String)] = []
    var notes: [String] = []
    for entry in table.entries {
      if let target = entry.aliasOf, options.aliasPolicy == .recordInMetadata {
        aliasRecords.append((entry.name, target))
        notes.append("alias '\(entry.name)' of '\(target)' stored once and recorded in metadata")
        continue
      }
      if let target = entry.aliasOf {
        notes.append("alias '\(entry.name)' of '\(target)' stored as a copy of its bytes")
      }
      entries.append(try planned(entry.name, entry.tensor, file: file))
    }
    return (entries, aliasRecords, notes)
  }

  /// Checks that a tensor can be stored in safetensors and that its shape, dtype and byte count agree.
  static func planned(_ name: String, _ tensor: Tensor, file: String) throws(GraftError) -> PlannedTensor {
    try tensor.requireUnquantized(writer: "safetensors", file: file, name: name)
    guard tensor.dtype.isSafetensorsType else {
      throw GraftError(
        .unsupportedDType,
        "\(tensor.dtype) is not a safetensors dtype; cast it (for example to C64) or write .graft, .pth or .npy",
        file: file, tensor: name)
    }
    guard name != "__metadata__" else {
      throw GraftError(
        .invalidArgument, "a tensor cannot be named `__metadata__`, the header key reserved for metadata", file: file,
        tensor: name)
    }
    var elements = 1
    for d in tensor.shape {
      guard let m = Checked.multiply(elements, d) else {
        throw crateError(
          .validationOverflow, "shape \(tensor.shape) of \(tensor.dtype)", file: file, tensor: name, at: nil)
      }
      elements = m
    }
    guard let bits = Checked.multiply(elements, tensor.dtype.bitWidth) else {
      throw crateError(
        .validationOverflow, "shape \(tensor.shape) of \(tensor.dtype)", file: file, tensor: name, at: nil)
    }
    guard bits % 8 == 0 else {
      throw crateError(
        .misalignedSlice, "(tensor `\(name)`: shape \(tensor.shape) of \(tensor.dtype) is \(bits) bits)", file: file,
        tensor: name, at: nil)
    }
    guard tensor.byteCount == bits / 8 else {
      let dims = tensor.shape.map(String.init).joined(separator: ", ")
      throw GraftError(
        .invalidTensorInfo,
        "tensor of type \(tensor.dtype) and shape (\(dims)) can't be created from \(tensor.byteCount) bytes; "
          + "expected \(bits / 8)", file: file, tensor: name)
    }
    return PlannedTensor(name: name, tensor: tensor, byteCount: bits / 8)
  }

  /// Compares names the way Rust compares `String`s: by UTF-8 bytes.
  static func utf8Precedes(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }

  static func sortedByUTF8(_ object: JSONObject) -> JSONObject {
    JSONObject(object.members.sorted { utf8Precedes($0.key, $1.key) })
  }

  /// The crate's write order: descending dtype rank, then name.
  static func writeOrder(_ entries: [PlannedTensor]) -> [PlannedTensor] {
    entries.sorted { a, b in
      let ra = a.tensor.dtype.sortRank
      let rb = b.tensor.dtype.sortRank
      return ra != rb ? ra > rb : utf8Precedes(a.name, b.name)
    }
  }

  /// The 8-byte prefix, the JSON header and its space padding for tensors already in write order.
  static func encodeHeader(
    _ ordered: [PlannedTensor], metadata: JSONObject, file: String
  ) throws(GraftError) -> [UInt8] {
    var members: [(key: String, value: JSONValue)] = []
    members.reserveCapacity(ordered.count + 1)
    if !metadata.isEmpty { members.append(("__metadata__", .object(metadata))) }
    var offset = 0
    for p in ordered {
      let end = offset + p.byteCount
      members.append(
        (
          p.name,
          [
            "dtype": .string(p.tensor.dtype.rawValue), "shape": .array(p.tensor.shape.map(JSONValue.integer)),
            "data_offsets": [.integer(offset), .integer(end)],
          ]
        ))
      offset = end
    }
    var bytes: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0]
    JSONValue.object(JSONObject(members)).write(into: &bytes, formatting: .compact)
    let padding = (8 - (bytes.count - 8) % 8) % 8
    bytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: padding))
    let length = bytes.count - 8
    guard length <= maximumHeaderLength else {
      throw crateError(
        .headerTooLarge,
        "the header would be \(length) bytes; the limit is \(maximumHeaderLength) (write fewer tensors per file, "
          + "for example by sharding, or less metadata)", file: file, at: 0)
    }
    withUnsafeBytes(of: UInt64(length).littleEndian) { raw in
      for k in 0..<8 { bytes[k] = raw[k] }
    }
    return bytes
  }

  /// Writes one file: header, then every tensor's bytes streamed in order; returns the bytes written.
  static func writeFile(
    _ entries: [PlannedTensor], metadata: JSONObject, to path: String, inputs: [String], progress: ProgressCounter?
  ) throws -> Int {
    var out = try AtomicOutputFile(destination: path, inputs: inputs)
    try fill(&out, entries, metadata: metadata, path: path, progress: progress)
    let total = out.position
    try out.commit()
    return total
  }

  /// Writes one file like ``writeFile(_:metadata:to:inputs:progress:)`` but leaves it under its temporary name, for
  /// the sharded writer to put in place once every shard is complete.
  static func stageFile(
    _ entries: [PlannedTensor], metadata: JSONObject, to path: String, inputs: [String], progress: ProgressCounter?
  ) throws -> (bytes: Int, file: StagedOutputFile) {
    var out = try AtomicOutputFile(destination: path, inputs: inputs)
    try fill(&out, entries, metadata: metadata, path: path, progress: progress)
    let total = out.position
    return (total, try out.stage())
  }

  /// The header, then every tensor's bytes streamed in order.
  private static func fill(
    _ out: inout AtomicOutputFile, _ entries: [PlannedTensor], metadata: JSONObject, path: String,
    progress: ProgressCounter?
  ) throws {
    let ordered = writeOrder(entries)
    let header = try encodeHeader(ordered, metadata: metadata, file: path)
    progress?.expect(ordered.reduce(0) { $0 + $1.byteCount })
    try out.write(header)
    for p in ordered {
      if let mapped = p.tensor.bytes as? any FileBackedBytes, mapped.fileOffset != nil {
        // Unchanged bytes of a mapped file: copied by the kernel, never touched here.
        do { try mapped.copy(into: &out) } catch {
          throw error.side == nil ? error.inFile(path).forTensor(p.name) : error
        }
        progress?.advance(by: mapped.byteCount)
        continue
      }
      try p.tensor.write(named: p.name, file: path, progress: progress) { try out.write($0) }
    }
  }
}
