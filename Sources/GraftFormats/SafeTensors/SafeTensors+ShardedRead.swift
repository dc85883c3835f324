public import GraftCore

extension SafeTensors {
  /// Reads a sharded checkpoint from its directory or its `*.safetensors.index.json`, or a single file.
  ///
  /// A directory is resolved to its one `*.safetensors.index.json` (preferring `model.safetensors.index.json`),
  /// else to `model.safetensors`. The index is checked against the shards in both directions: a missing shard
  /// file, a listed tensor absent from its shard, a tensor listed under the wrong shard, a tensor present in a shard
  /// but not listed, and a tensor present in two shards are all `indexMismatch` errors naming the file and the
  /// tensor. Tensors come in the index's order; metadata is the index's `metadata` without
  /// `total_size`, followed by shard metadata keys not already present (typically `format`).
  ///
  /// - Throws: ``GraftError``.
  public static func readSharded(path: String, options: ReadOptions = .init()) throws(GraftError) -> TensorTable {
    guard FileSystem.isDirectory(path) else {
      if path.hasSuffix(".json") { return try readIndex(path, options: options) }
      return try read(path: path, options: options)
    }
    let names = try FileSystem.contents(of: path)
    let indexes = names.filter { $0.hasSuffix(".safetensors.index.json") }
    if indexes.count == 1 || indexes.contains("model.safetensors.index.json") {
      let chosen = indexes.count == 1 ? indexes[0] : "model.safetensors.index.json"
      return try readIndex(FileSystem.join(path, chosen), options: options)
    }
    if indexes.count > 1 {
      throw GraftError(
        .invalidArgument,
        "the folder holds several shard indexes (\(indexes.joined(separator: ", "))); pass the one to read", file: path)
    }
    if names.contains("model.safetensors") {
      return try read(path: FileSystem.join(path, "model.safetensors"), options: options)
    }
    let found = names.filter { !$0.hasPrefix(".") }
    throw GraftError(
      .unrecognizedFormat,
      "expected model.safetensors.index.json or model.safetensors in the folder but found "
        + (found.isEmpty ? "nothing" : found.prefix(20).joined(separator: ", ") + (found.count > 20 ? ", …" : ""))
        + "; pass a file path to read another file", file: path)
  }

  /// Reads the index at `indexPath` and every shard it lists, checking one against the other.
  ///
  /// `readShard` reads shards of another format with the same index rules (`pytorch_model.bin.index.json`);
  /// without it shards are safetensors files.
  public static func readIndex(
    _ indexPath: String, options: ReadOptions = .init(), readShard: ((String) throws(GraftError) -> TensorTable)? = nil
  ) throws(GraftError) -> TensorTable {
    let size = try FileSystem.size(of: indexPath)
    guard size <= maximumIndexLength else {
      throw GraftError(
        .limitExceeded, "the index is \(size) bytes; the limit is \(maximumIndexLength)", file: indexPath,
        byteOffset: 0)
    }
    let bytes = try FileSystem.readAll(indexPath)
    var parserOptions = JSONParser.Options()
    parserOptions.duplicateKeys = options.duplicateKeys
    let root = try bytes.withUnsafeBytes { raw in
      Result { () throws(GraftError) in try JSONParser.parse(raw, file: indexPath, options: parserOptions) }
    }.get()
    let rootMembers = bytes.withUnsafeBytes { HeaderScanner.members(of: $0) }
    func memberOffset(_ key: String) -> Int? { rootMembers.last { $0.key == key }?.keyOffset }
    guard case .object(let object) = root else {
      throw GraftError(
        .indexMismatch, "expected a JSON object with \"weight_map\" but found \(root.kindDescription)",
        file: indexPath, byteOffset: 0)
    }
    guard let weightMapValue = object["weight_map"], case .object(let weightMapObject) = weightMapValue else {
      throw GraftError(
        .indexMismatch,
        object["weight_map"] == nil
          ? "the index has no \"weight_map\"" : "\"weight_map\" is not an object of tensor name → shard file",
        file: indexPath, byteOffset: memberOffset("weight_map") ?? 0)
    }
    let listOffsets: [String: Int] = bytes.withUnsafeBytes { raw in
      guard let start = rootMembers.last(where: { $0.key == "weight_map" })?.valueOffset else { return [:] }
      var offsets: [String: Int] = [:]
      for m in HeaderScanner.members(of: raw, objectAt: start) { offsets[m.key] = m.keyOffset }
      return offsets
    }

    // tensor name → shard file name, last wins when duplicates were allowed.
    var listed: [String: String] = [:]
    var shardSet = Set<String>()
    for (name, value) in weightMapObject {
      guard case .string(let shard) = value else {
        throw GraftError(
          .indexMismatch, "the weight_map value is \(value.kindDescription), expected a shard file name",
          file: indexPath, tensor: name, byteOffset: listOffsets[name])
      }
      let components = shard.split(separator: "/", omittingEmptySubsequences: false)
      guard !shard.isEmpty, !shard.hasPrefix("/"), !components.contains(".."), !components.contains("") else {
        throw GraftError(
          .indexMismatch, "the shard name '\(shard)' must be a relative path inside the index's folder",
          file: indexPath, tensor: name, byteOffset: listOffsets[name])
      }
      listed[name] = shard
      shardSet.insert(shard)
    }
    let shardOrder = shardSet.sorted { utf8Precedes($0, $1) }

    let folder = AtomicOutputFile.folder(of: indexPath)
    var shards: [(name: String, path: String, table: TensorTable)] = []
    for shard in shardOrder {
      let shardPath = FileSystem.join(folder, shard)
      guard FileSystem.exists(shardPath) else {
        let tensors = weightMapObject.keys.filter { listed[$0] == shard }
        throw GraftError(
          .indexMismatch,
          "the index lists shard '\(shard)' for \(tensors.count) tensor(s), but the file does not exist",
          file: shardPath,
          tensor: tensors.first, byteOffset: nil
        ).withIndexContext(indexPath, offset: tensors.first.flatMap { listOffsets[$0] })
      }
      let table: TensorTable
      if let readShard { table = try readShard(shardPath) } else { table = try read(path: shardPath, options: options) }
      shards.append((shard, shardPath, table))
    }

    var foundIn: [String: [String]] = [:]
    for s in shards {
      for entry in s.table.entries { foundIn[entry.name, default: []].append(s.name) }
    }
    for s in shards {
      for entry in s.table.entries {
        guard let homes = foundIn[entry.name], homes.count > 1 else { continue }
        throw GraftError(
          .indexMismatch, "the tensor is stored in several shards: \(homes.joined(separator: ", "))",
          file: s.path, tensor: entry.name, byteOffset: readShard == nil ? keyOffset(of: entry) : nil)
      }
    }
    for name in weightMapObject.keys {
      guard let shard = listed[name] else { continue }
      let homes = foundIn[name] ?? []
      if homes.contains(shard) { continue }
      let message =
        homes.isEmpty
        ? "the index lists the tensor in '\(shard)', but no shard contains it"
        : "the index lists the tensor in '\(shard)', but it is stored in '\(homes[0])'"
      throw GraftError(
        .indexMismatch, message, file: FileSystem.join(folder, shard), tensor: name, byteOffset: nil
      ).withIndexContext(indexPath, offset: listOffsets[name])
    }
    for s in shards {
      for entry in s.table.entries where listed[entry.name] == nil {
        throw GraftError(
          .indexMismatch, "the shard contains the tensor, but the index '\(indexPath)' does not list it", file: s.path,
          tensor: entry.name, byteOffset: readShard == nil ? keyOffset(of: entry) : nil)
      }
    }

    var table = TensorTable()
    var metadata = OrderedMembers()
    if case .object(let indexMetadata)? = object["metadata"] {
      for (key, value) in indexMetadata where key != "total_size" { metadata.set(key, value) }
    }
    var tensors: [String: Tensor] = [:]
    for s in shards {
      for (key, value) in s.table.metadata where !metadata.contains(key) { metadata.set(key, value) }
      for entry in s.table.entries { tensors[entry.name] = entry.tensor }
    }
    table.metadata = metadata.object
    // The index order is the author's order (the state dict's for the hub, sorted names for transformers v5).
    for name in weightMapObject.keys where !table.contains(name) {
      if let tensor = tensors[name] { try table.append(name, tensor) }
    }
    return table
  }

  /// The absolute offset of a tensor's key in the header of the file it was read from, for error messages.
  private static func keyOffset(of entry: TensorTable.Entry) -> Int? {
    guard let mapped = entry.tensor.bytes as? MappedBytes, mapped.region.count >= 8 else { return nil }
    let bytes = mapped.region.bytes
    let length = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
    guard let n = Int(exactly: length), let end = Checked.add(n, 8), end <= bytes.count else { return nil }
    let header = UnsafeRawBufferPointer(rebasing: bytes[8..<end])
    return HeaderScanner.members(of: header).last { $0.key == entry.name }.map { 8 + $0.keyOffset }
  }
}

extension GraftError {
  /// Adds where in the index the offending entry is, since the error's own file is the shard.
  fileprivate func withIndexContext(_ indexPath: String, offset: Int?) -> GraftError {
    var copy = self
    copy.message += " (index entry in '\(indexPath)'" + (offset.map { " at byte \($0)" } ?? "") + ")"
    return copy
  }
}
