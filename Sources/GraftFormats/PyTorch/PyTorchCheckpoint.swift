public import GraftCore

/// Reading and writing PyTorch `torch.save` files (`.pt`, `.pth`, `.bin`, `.ckpt`).
///
/// Reading never executes the pickle: a symbolic machine (``PickleMachine``) rebuilds tensors from
/// `_rebuild_tensor_v2/_v3` calls and keeps every other callable as an inert node. Storages stay in the mapped
/// file. See `Formats/pytorch.md` for the mapping and the resource caps.
public enum PyTorchCheckpoint {
  /// How to turn a checkpoint into a tensor table.
  public struct ReadOptions: Sendable {
    /// A dotted path to the state dict (`model`, `ema_state`, `optimizer.state`); `nil` chooses automatically.
    public var select: String? = nil
    /// Prefixes to strip from tensor names, such as `module.` or `_orig_mod.`.
    public var stripPrefixes: [String] = []
    /// Creates the default options.
    public init() {}
  }

  /// How to write a `.pth` file.
  public struct WriteOptions: Sendable {
    /// Nests the state dict under this key (`model`, `state_dict`) instead of saving it at the top level.
    public var nestUnder: String? = nil
    /// Creates the default options.
    public init() {}
  }

  /// The largest pickle accepted (anamnesis' `MAX_PKL_SIZE`).
  public static let maxPickleBytes = 100 << 20
  /// The largest `byteorder` / `version` record accepted.
  public static let maxSmallRecordBytes = 64

  /// The legacy (0.4–1.5) raw stream's first pickle: `0x1950a86a20f9469cfc6c` as a little-endian LONG.
  static let legacyMagic: [UInt8] = [0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]

  /// Parses a checkpoint (zip, legacy raw stream or legacy tar) and its pickle; tensors stay lazy.
  ///
  /// - Throws: ``GraftError``: `unrecognizedFormat` for files that are none of these, `truncated`,
  ///   `invalidHeader`, `checksumMismatch` (the pickle record), `limitExceeded` (caps in `Formats/pytorch.md`),
  ///   `invalidTensorInfo` when a storage is missing or smaller than its persistent id says.
  public static func open(path: String) throws(GraftError) -> PyTorchArchive {
    let region = try MappedRegion(path: path)
    let head = region.bytes(in: 0..<min(region.count, 512))
    if ZipArchive.looksLikeZip(head) { return try openZip(region) }
    if head.starts(with: Array("version https://git-lfs".utf8)) {
      throw GraftError(
        .unrecognizedFormat,
        "this is a Git LFS pointer file, not the checkpoint; run `git lfs pull` to fetch the real file", file: path,
        byteOffset: 0)
    }
    if region.count >= 512 && Array(head[257..<262]) == Array("ustar".utf8) { return try openTar(region) }
    if head.starts(with: [0x80]) { return try openLegacyStream(region) }
    if head.starts(with: Array("PYTORCH1".utf8)) {
      throw GraftError(
        .unsupported, "this is the PYTORCH1 preview format, which torch itself no longer loads", file: path,
        byteOffset: 0)
    }
    throw GraftError(
      .unrecognizedFormat, "not a PyTorch checkpoint: no zip header, tar header or pickle protocol byte", file: path,
      byteOffset: 0)
  }

  /// Opens a checkpoint and returns the chosen state dict as a table.
  public static func read(path: String, options: ReadOptions = .init()) throws(GraftError) -> TensorTable {
    let archive = try open(path: path)
    return try archive.table(select: options.select, stripPrefixes: options.stripPrefixes)
  }

  // MARK: - Zip

  static func openZip(_ region: MappedRegion) throws(GraftError) -> PyTorchArchive {
    let path = region.path
    let zip = try ZipArchive(region: region)
    guard !zip.entries.isEmpty else {
      throw GraftError(.invalidHeader, "the archive does not contain any files", file: path)
    }
    // The top folder is arbitrary (`archive/`, the file's stem, …); torch uses the first entry's folder.
    let pickles = zip.entries.filter { e in
      e.name == "data.pkl" || (e.name.hasSuffix("/data.pkl") && e.name.dropLast(9).firstIndex(of: "/") == nil)
    }
    guard let pkl = pickles.first else {
      let npy = zip.entries.contains { $0.name.hasSuffix(".npy") }
      throw GraftError(
        .unrecognizedFormat,
        npy
          ? "this zip holds .npy members: it is a NumPy .npz file, not a PyTorch checkpoint"
          : "the zip archive has no '<folder>/data.pkl' record, so it is not a torch.save file",
        file: path)
    }
    let prefix = String(pkl.name.dropLast("data.pkl".count))
    let folder = prefix.isEmpty ? "(none)" : String(prefix.dropLast())
    var bigEndian = false
    if let order = zip.entry(named: prefix + "byteorder") {
      let text = String(decoding: try zip.readSmallMember(order, cap: maxSmallRecordBytes), as: UTF8.self)
      switch text.trimmed(of: " \n") {
      case "little": bigEndian = false
      case "big": bigEndian = true
      default:
        throw GraftError(
          .invalidHeader, "the byteorder record says '\(text)'; expected 'little' or 'big'", file: path,
          byteOffset: order.dataOffset)
      }
    }
    var version = "?"
    if let v = zip.entry(named: prefix + "version") ?? zip.entry(named: prefix + ".data/version") {
      version = String(decoding: try zip.readSmallMember(v, cap: maxSmallRecordBytes), as: UTF8.self)
        .trimmed(of: " \n")
    }
    if zip.entry(named: prefix + "constants.pkl") != nil {
      throw GraftError(
        .unsupported,
        "this is a TorchScript archive (it has constants.pkl); save the module's state_dict() instead", file: path)
    }
    guard pkl.uncompressedSize <= maxPickleBytes else {
      throw GraftError(
        .limitExceeded, "data.pkl is \(pkl.uncompressedSize) bytes; the cap is \(maxPickleBytes)", file: path,
        byteOffset: pkl.dataOffset)
    }
    let pickleBytes = try zip.readSmallMember(pkl, cap: maxPickleBytes)
    let interpreter = TorchInterpreter(flavor: .zip, file: path)
    let graph: PickleGraph
    do {
      graph = try pickleBytes.withUnsafeBytes { raw in
        try PickleMachine.run(raw, baseOffset: pkl.dataOffset, file: path, interpreter: interpreter).graph
      }
    } catch let e as GraftError {
      throw e
    } catch {
      throw GraftError(.invalidHeader, "cannot parse data.pkl", file: path, cause: error)
    }
    var storageBytes: [String: any TensorByteSource] = [:]
    for (key, storage) in interpreter.storages {
      let recordName = prefix + "data/" + key
      guard let record = zip.entry(named: recordName) else {
        throw GraftError(
          .invalidTensorInfo, "the pickle references storage '\(key)' but the archive has no record '\(recordName)'",
          file: path)
      }
      guard let needed = storage.byteCount, record.uncompressedSize >= needed else {
        throw GraftError(
          .invalidTensorInfo,
          "storage record '\(recordName)' has \(record.uncompressedSize) bytes but its persistent id declares "
            + "\(storage.count) elements of \(storage.dtype)",
          file: path, byteOffset: record.dataOffset)
      }
      storageBytes[key] = try zip.bytes(of: record)
    }
    let description =
      "PyTorch zip (torch >= 1.6), top folder '\(folder)', pickle protocol \(graph.proto), format version \(version)"
      + (bigEndian ? ", big-endian" : "")
    return PyTorchArchive(
      path: path, graph: graph, formatDescription: description, storageBytes: storageBytes, bigEndian: bigEndian)
  }
}

extension String {
  /// Removes leading and trailing characters in `set`.
  fileprivate func trimmed(of set: String) -> String {
    var s = Substring(self)
    while let f = s.first, set.contains(f) { s.removeFirst() }
    while let l = s.last, set.contains(l) { s.removeLast() }
    return String(s)
  }
}
