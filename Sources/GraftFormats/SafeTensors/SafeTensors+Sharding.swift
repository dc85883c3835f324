public import GraftCore

extension SafeTensors {
  /// The largest shard index file Graft reads (an index of a million tensors is about 80 MB).
  static let maximumIndexLength = 256 << 20

  /// Writes a table as a Hugging Face sharded checkpoint, the way `huggingface_hub.save_torch_state_dict` does.
  ///
  /// Tensors are assigned greedily in table order: a shard is closed when the next tensor would push it over
  /// `maxShardBytes`, and a tensor larger than the limit gets a shard of its own. Shards are named
  /// `<base>-0000K-of-0000N.safetensors` and carry only `{"format": "pt"}`; the user metadata and recorded aliases go
  /// to `<base>.safetensors.index.json` (written with Python's `json.dump(index, indent=2)` layout) after every
  /// shard is in place. When everything fits in one shard, a single `<base>.safetensors` with all metadata is
  /// written and no index. Files of an earlier run that this run did not replace are left alone and listed in
  /// ``WriteSummary/notes``.
  ///
  /// - Throws: ``GraftError`` (`invalidArgument` for a non-positive limit or a bad base name) or any error of
  ///   ``write(_:to:options:inputs:progress:)``.
  public static func writeSharded(
    _ table: TensorTable, directory: String, maxShardBytes: Int, baseName: String = "model",
    options: WriteOptions = .init(), inputs: [String] = [], progress: ProgressCounter? = nil
  ) throws -> WriteSummary {
    guard maxShardBytes > 0 else {
      throw GraftError(
        .invalidArgument, "the maximum shard size must be positive, not \(maxShardBytes)", file: directory)
    }
    guard !baseName.isEmpty, !baseName.contains("/") else {
      throw GraftError(.invalidArgument, "the base name '\(baseName)' must be a non-empty file name", file: directory)
    }
    let createdFolder = !FileSystem.exists(directory)
    try FileSystem.makeDirectory(directory)
    do {
      return try writeShards(
        table, directory: directory, maxShardBytes: maxShardBytes, baseName: baseName, options: options,
        inputs: inputs, progress: progress)
    } catch {
      // Nothing was put in place (see writeShards), so only a folder this call made is left to remove.
      if createdFolder { FileSystem.removeEmptyDirectory(directory) }
      throw error
    }
  }

  /// The body of ``writeSharded(_:directory:maxShardBytes:baseName:options:inputs:progress:)`` once the folder
  /// exists: every shard and the index are written under temporary names and renamed into place only when all are
  /// complete (the index last), so a failure (a full disk) leaves the folder as it was.
  private static func writeShards(
    _ table: TensorTable, directory: String, maxShardBytes: Int, baseName: String, options: WriteOptions,
    inputs: [String], progress: ProgressCounter?
  ) throws -> WriteSummary {
    let singlePath = FileSystem.join(directory, baseName + ".safetensors")
    let indexName = baseName + ".safetensors.index.json"
    let stored = try storedEntries(of: table, options: options, file: directory)
    let shards = assignShards(stored.entries, maxShardBytes: maxShardBytes)
    if shards.count <= 1 {
      var summary = try write(table, to: singlePath, options: options, inputs: inputs, progress: progress)
      summary.notes += staleFiles(in: directory, baseName: baseName, keeping: [baseName + ".safetensors"])
      return summary
    }

    var shardMetadata = JSONObject()
    if let format = table.metadata["format"] {
      shardMetadata["format"] = .string(format.stringValue ?? format.serialized(.compact))
    } else if options.addFormatKey {
      shardMetadata["format"] = "pt"
    }
    var files: [String] = []
    var names: [String] = []
    var weightMap: [(key: String, value: JSONValue)] = []
    var bytesWritten = 0
    var staged: [StagedOutputFile] = []
    // Whatever fails before every file is complete removes the temporary files; the folder is untouched.
    defer { for file in staged { file.discard() } }
    for (k, shard) in shards.enumerated() {
      let name = baseName + "-" + fiveDigits(k + 1) + "-of-" + fiveDigits(shards.count) + ".safetensors"
      let path = FileSystem.join(directory, name)
      let written = try stageFile(shard, metadata: shardMetadata, to: path, inputs: inputs, progress: progress)
      staged.append(written.file)
      bytesWritten += written.bytes
      files.append(path)
      names.append(name)
      for p in shard { weightMap.append((p.name, .string(name))) }
    }

    var members = OrderedMembers()
    members.set("total_size", .integer(stored.entries.reduce(0) { $0 + $1.byteCount }))
    for (key, value) in table.metadata where key != "format" && key != "total_size" { members.set(key, value) }
    for (alias, target) in stored.aliasRecords { members.set(alias, .string(target)) }
    var indexMetadata = members.object
    if options.sortMetadataKeys { indexMetadata = sortedByUTF8(indexMetadata) }
    let index: JSONValue = ["metadata": .object(indexMetadata), "weight_map": .object(JSONObject(weightMap))]
    let indexBytes = index.serializedBytes(.pythonIndent2)
    let indexPath = FileSystem.join(directory, indexName)
    var indexFile = try AtomicOutputFile(destination: indexPath, inputs: inputs)
    try indexFile.write(indexBytes)
    staged.append(try indexFile.stage())
    // The index goes in last, so no reader ever finds an index whose shards are not all in place.
    for (k, file) in staged.enumerated() {
      do { try file.install() } catch {
        throw GraftError(
          error.code, error.message + "; \(k) of the \(staged.count) files were already in place", file: error.file,
          cause: error.cause)
      }
    }
    files.append(indexPath)
    bytesWritten += indexBytes.count
    let notes = stored.notes + staleFiles(in: directory, baseName: baseName, keeping: Set(names + [indexName]))
    return WriteSummary(
      files: files, bytesWritten: bytesWritten, storedTensorCount: stored.entries.count, notes: notes)
  }

  /// huggingface_hub's `split_state_dict_into_shards_factory`: greedy in order, oversized tensors alone.
  ///
  /// An oversized tensor's shard is appended when the tensor is met, before the shard still being filled, exactly
  /// as the hub does.
  static func assignShards(_ entries: [PlannedTensor], maxShardBytes: Int) -> [[PlannedTensor]] {
    var shards: [[PlannedTensor]] = []
    var current: [PlannedTensor] = []
    var currentSize = 0
    for p in entries {
      if p.byteCount > maxShardBytes {
        shards.append([p])
        continue
      }
      if currentSize + p.byteCount > maxShardBytes {
        shards.append(current)
        current = []
        currentSize = 0
      }
      current.append(p)
      currentSize += p.byteCount
    }
    if !current.isEmpty { shards.append(current) }
    return shards
  }

  private static func fiveDigits(_ n: Int) -> String {
    let digits = String(n)
    return String(repeating: "0", count: max(0, 5 - digits.count)) + digits
  }

  /// Whether `name` is `<base>.safetensors`, `<base>-DDDDD-of-DDDDD.safetensors` or `<base>.safetensors.index.json`.
  static func isCheckpointFile(_ name: String, baseName: String) -> Bool {
    if name == baseName + ".safetensors" || name == baseName + ".safetensors.index.json" { return true }
    guard name.hasPrefix(baseName + "-"), name.hasSuffix(".safetensors") else { return false }
    let middle = Array(name.utf8.dropFirst(baseName.utf8.count + 1).dropLast(".safetensors".utf8.count))
    guard middle.count == 14 else { return false }
    let isDigit = { (b: UInt8) in b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }
    return middle[0..<5].allSatisfy(isDigit) && Array(middle[5..<9]) == Array("-of-".utf8)
      && middle[9..<14].allSatisfy(isDigit)
  }

  /// Notes naming checkpoint files in `directory` that this run did not write; they are never deleted silently.
  private static func staleFiles(in directory: String, baseName: String, keeping: Set<String>) -> [String] {
    let names = (try? FileSystem.contents(of: directory)) ?? []
    return names.filter { isCheckpointFile($0, baseName: baseName) && !keeping.contains($0) }.map {
      "stale file '\(FileSystem.join(directory, $0))' from an earlier write was left in place; delete it before publishing, or "
        + "readers may load it"
    }
  }

  /// Parses a size such as `5GB` (decimal units, like huggingface_hub), `1.5GB`, `512MiB` (binary) or `1000000`
  /// (bytes).
  ///
  /// Units are case-insensitive: `B`, `KB`/`MB`/`GB`/`TB` (powers of 1000) and `KiB`/`MiB`/`GiB`/`TiB` (powers of
  /// 1024); fractions are truncated to whole bytes as `int(float(value) * unit)` does.
  ///
  /// - Throws: `invalidArgument` for an unknown unit, a malformed or non-positive number, or a size over 2^62.
  public static func parseSize(_ text: String) throws(GraftError) -> Int {
    let trimmed = text.trimmingWhitespace()
    var split = trimmed.endIndex
    while split > trimmed.startIndex {
      let before = trimmed.index(before: split)
      if trimmed[before].isLetter { split = before } else { break }
    }
    let number = String(trimmed[..<split]).trimmingWhitespace()
    let unit = trimmed[split...].lowercased()
    let units: [String: Int] = [
      "": 1, "b": 1, "kb": 1_000, "mb": 1_000_000, "gb": 1_000_000_000, "tb": 1_000_000_000_000, "kib": 1 << 10,
      "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
    ]
    guard let multiplier = units[unit] else {
      throw GraftError(
        .invalidArgument,
        "unknown size unit '\(trimmed[split...])' in '\(text)'; use B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, "
          + "GiB, TiB (powers of 1024)")
    }
    let limit = 1 << 62
    let isPlainDigits = !number.isEmpty && number.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    let isDecimal =
      !number.isEmpty && number.utf8.allSatisfy { ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || $0 == 0x2E }
      && number.utf8.filter { $0 == 0x2E }.count <= 1 && number != "."
    var result: Int?
    if isPlainDigits, let whole = Int(number) {
      result = Checked.multiply(whole, multiplier)
    } else if isDecimal, let value = Double(number) {
      let product = (value * Double(multiplier)).rounded(.towardZero)
      result = product < Double(limit) ? Int(product) : nil
    } else {
      throw GraftError(.invalidArgument, "cannot read a size from '\(text)'; expected a number and a unit, like 5GB")
    }
    guard let bytes = result, bytes <= limit else {
      throw GraftError(.invalidArgument, "the size '\(text)' is too large")
    }
    guard bytes > 0 else { throw GraftError(.invalidArgument, "the size '\(text)' must be at least one byte") }
    return bytes
  }
}

extension String {
  fileprivate func trimmingWhitespace() -> String {
    let scalars = unicodeScalars
    guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
      let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
    else { return "" }
    return String(scalars[first...last])
  }
}
