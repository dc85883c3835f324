/// Everything `graft inspect` shows about a checkpoint, computed from headers only.
public struct Inspection: Sendable {
  /// The path inspected.
  public var path: String
  /// The detected format.
  public var detection: FormatDetector.Detection
  /// The file's size (for a sharded checkpoint, the index's and its shards' sizes; other files in the folder are not
  /// counted).
  public var fileSize: Int
  /// The tensors, when a single state dict could be chosen.
  public var table: TensorTable?
  /// Why no table is shown (a nested checkpoint with several candidate state dicts).
  public var tableUnavailableReason: String?
  /// Why the tensor table could not be built when the file itself is at fault (not a missing `--select`): the
  /// structure is still shown, and the command then fails with this error.
  public var tableError: GraftError?
  /// Extra format-specific lines (object tree of a pickle, HDF5 groups and attributes, `.graft` header facts).
  public var details: [String] = []
  /// The same facts as values, for `--json`: `.graft` header facts, the pickle's format and object tree, the HDF5
  /// layout and objects, the GGUF header and metadata.
  public var detailsJSON = JSONObject()
  /// For a Hugging Face model folder: architecture, hyperparameters and parameters per component.
  public var huggingFace: HuggingFaceSummary?
  /// Globals a pickle references, with the dangerous ones flagged.
  public var globals: [(name: String, isDangerous: Bool)] = []

  /// Inspects a checkpoint without reading tensor data.
  public static func inspect(
    path: String, options: Checkpoint.ReadOptions = Checkpoint.ReadOptions()
  ) throws
    -> Inspection
  {
    let detection = try Checkpoint.detect(path: path)
    var size = 0
    for file in try checkpointFiles(detection) { size += try FileSystem.size(of: file) }
    var inspection = Inspection(path: path, detection: detection, fileSize: size)
    if HuggingFaceFolder.isModelFolder(path) {
      inspection.huggingFace = HuggingFaceSummary(try HuggingFaceFolder.open(path, options: options))
    }
    switch detection.format {
    case .pytorch where !detection.readerPath.hasSuffix(".index.json"):
      let archive = try PyTorchCheckpoint.open(path: detection.readerPath)
      inspection.details.append(archive.formatDescription)
      inspection.details.append(
        contentsOf: archive.treeDescription(maxDepth: 4).split(separator: "\n").map(String.init))
      inspection.detailsJSON["container"] = .string(archive.formatDescription)
      inspection.detailsJSON["state_dicts"] = archive.stateDictCandidatesJSON
      inspection.detailsJSON["tree"] = archive.treeJSON(maxDepth: 4)
      inspection.globals = archive.referencedGlobals
      do {
        var table = try archive.table(select: options.select, stripPrefixes: options.stripPrefixes)
        for p in options.stripPrefixes { try table.stripPrefix(p) }
        inspection.table = table
      } catch let error as GraftError {
        inspection.tableUnavailableReason = error.message
        // A checkpoint that needs `--select` is fine; one whose tensors cannot be built is not.
        if error.code != .invalidArgument && error.code != .tensorNotFound { inspection.tableError = error }
      }
      return inspection
    case .hdf5:
      let description = try HDF5Checkpoint.description(path: path)
      inspection.details.append(contentsOf: description.lines)
      inspection.detailsJSON = description.json.objectValue ?? JSONObject()
    case .gguf:
      let gguf = try GGUFInspection.inspect(path: path)
      inspection.details.append(contentsOf: gguf.lines(includeTensors: false))
      // The tensors are listed once, under `tensors`, like every format's.
      inspection.detailsJSON = gguf.json.objectValue ?? JSONObject()
      inspection.detailsJSON["tensors"] = nil
    case .graft:
      let info = try GraftFile.info(path: path)
      inspection.details.append("format version \(info.formatVersion), header \(info.headerLength) bytes")
      inspection.detailsJSON = JSONObject([
        ("format_version", .string(info.formatVersion)), ("header_offset", .integer(info.headerOffset)),
        ("header_length", .integer(info.headerLength)), ("header_checksum", .string(info.headerChecksum)),
        ("content_digest", .string(info.contentDigest)),
        ("compressed_tensors", .integer(info.tensors.filter { $0.compression != .none }.count)),
      ])
    default:
      break
    }
    inspection.table = try Checkpoint.read(path: path, options: options)
    return inspection
  }

  /// The files a checkpoint's reader reads: an index and the shards it lists, or the one file.
  ///
  /// A folder may also hold leftovers of another checkpoint (stale shards, a second format); they are not part of it.
  static func checkpointFiles(_ detection: FormatDetector.Detection) throws -> [String] {
    let reader = detection.readerPath
    guard reader.hasSuffix(".index.json") else { return [reader] }
    let folder = AtomicOutputFile.folder(of: reader)
    return [reader] + (try HuggingFaceFolder.shardNames(index: reader)).map { FileSystem.join(folder, $0) }
  }

  /// The absolute file offset of a tensor's bytes, when they are mapped from the file.
  public static func fileOffset(of tensor: Tensor) -> Int? { (tensor.bytes as? any FileBackedBytes)?.fileOffset }

  /// Renders the inspection as text; `limit` caps the number of tensor rows (0 = all).
  public func render(limit: Int = 0) -> String {
    var out: [String] = []
    let kind =
      detection.detail == detection.format.displayName
      ? detection.detail : "\(detection.detail) (\(detection.format.displayName))"
    out.append("\(path): \(kind), \(Format.bytes(fileSize))")
    for d in details { out.append("  " + d) }
    out += huggingFace?.lines ?? []
    if !globals.isEmpty {
      let dangerous = globals.filter(\.isDangerous)
      out.append(
        "pickle references \(globals.count) global(s)"
          + (dangerous.isEmpty
            ? "" : "; DANGEROUS (never executed by Graft): " + dangerous.map(\.name).joined(separator: ", ")))
      for g in globals where !g.isDangerous { out.append("  " + g.name) }
    }
    guard let table else {
      if let reason = tableUnavailableReason { out.append(reason) }
      return out.joined(separator: "\n")
    }
    if !table.metadata.isEmpty {
      out.append("metadata:")
      for (k, v) in table.metadata {
        let text = v.stringValue ?? v.serialized()
        out.append("  \(k): " + (text.count > 200 ? String(text.prefix(200)) + "…" : text))
      }
    }
    let rows = limit > 0 ? Array(table.entries.prefix(limit)) : table.entries
    let nameWidth = min(72, max(4, rows.map(\.name.count).max() ?? 4))
    out.append(
      Format.pad("name", nameWidth) + "  " + Format.pad("dtype", 11) + Format.pad("shape", 20)
        + Format.padLeft("bytes", 14) + Format.padLeft("offset", 14))
    for e in rows {
      let shape = "[" + e.tensor.shape.map(String.init).joined(separator: ", ") + "]"
      let offset = e.aliasOf.map { "= " + $0 } ?? Inspection.fileOffset(of: e.tensor).map(String.init) ?? "-"
      out.append(
        Format.pad(e.name, nameWidth) + "  " + Format.pad(e.tensor.storageTypeName, 11) + Format.pad(shape, 20)
          + Format.padLeft(Format.grouped(e.tensor.storedByteCount), 14)
          + (e.aliasOf == nil ? Format.padLeft(offset, 14) : "  " + offset))
    }
    if rows.count < table.count { out.append("… \(table.count - rows.count) more (a limit of 0 shows all)") }
    var perDType: [DType: (count: Int, params: Int, bytes: Int)] = [:]
    for e in table.storedEntries {
      var t = perDType[e.tensor.dtype] ?? (0, 0, 0)
      t.count += 1
      t.params += e.tensor.elementCount
      t.bytes += e.tensor.byteCount
      perDType[e.tensor.dtype] = t
    }
    let aliasCount = table.aliases.count
    out.append(
      "\(table.count) tensors" + (aliasCount > 0 ? " (\(aliasCount) aliases)" : "") + ", "
        + Format.grouped(table.parameterCount) + " parameters, " + Format.bytes(table.storedByteCount))
    for d in DType.allCases {
      guard let t = perDType[d] else { continue }
      out.append(
        "  " + Format.pad(d.rawValue, 12) + Format.padLeft("\(t.count)", 6) + " tensors"
          + Format.padLeft(Format.grouped(t.params), 16) + " params" + Format.padLeft(Format.bytes(t.bytes), 14))
    }
    if aliasCount > 0 {
      out.append("aliases (one storage, several names):")
      for a in table.aliases { out.append("  \(a.alias) = \(a.target)") }
    }
    if !table.lineage.isEmpty {
      out.append("lineage:")
      for (i, r) in table.lineage.enumerated() {
        out.append("  \(i + 1). \(r.operation) by \(r.tool) \(r.parameters.serialized())")
        if !r.inputs.isEmpty { out.append("     inputs \(r.inputs.joined(separator: ", "))") }
        if let o = r.output { out.append("     output \(o)") }
      }
    }
    return out.joined(separator: "\n")
  }

  /// The inspection as JSON.
  public var json: JSONValue {
    var o = JSONObject()
    o["path"] = .string(path)
    o["format"] = .string(detection.format.rawValue)
    o["detail"] = .string(detection.detail)
    o["file_size"] = .integer(fileSize)
    if !detailsJSON.isEmpty { o["details"] = .object(detailsJSON) }
    if !globals.isEmpty {
      o["globals"] = .array(globals.map { ["name": .string($0.name), "dangerous": .bool($0.isDangerous)] })
    }
    if let reason = tableUnavailableReason { o["table_unavailable"] = .string(reason) }
    if let huggingFace { o["hugging_face"] = huggingFace.json }
    if let table {
      o["metadata"] = .object(table.metadata)
      o["tensors"] = .array(
        table.entries.map { e in
          var t = JSONObject()
          t["name"] = .string(e.name)
          t["dtype"] = .string(e.tensor.storageTypeName)
          t["shape"] = .array(e.tensor.shape.map { .integer($0) })
          t["bytes"] = .integer(e.tensor.byteCount)
          if let off = Inspection.fileOffset(of: e.tensor) { t["offset"] = .integer(off) }
          if let a = e.aliasOf { t["alias_of"] = .string(a) }
          return .object(t)
        })
      o["parameter_count"] = .integer(table.parameterCount)
      o["stored_bytes"] = .integer(table.storedByteCount)
      o["lineage"] = .array(table.lineage.map(\.json))
    }
    return .object(o)
  }
}
