import GraftCore

extension PyTorchCheckpoint {
  /// Runs one pickle of a legacy stream, capped at ``maxPickleBytes``.
  private static func runPickle(
    _ region: MappedRegion, at start: Int, interpreter: TorchInterpreter, what: String
  ) throws(GraftError) -> (graph: PickleGraph, end: Int) {
    let end = min(region.count, start + maxPickleBytes)
    guard start < region.count else {
      throw GraftError(.truncated, "the file ends before the \(what) pickle", file: region.path, byteOffset: start)
    }
    let window = region.bytes(in: start..<end)
    let (graph, used) = try PickleMachine.run(window, baseOffset: start, file: region.path, interpreter: interpreter)
    return (graph, start + used)
  }

  /// Reads the pre-1.6 raw stream: magic, protocol 1001, sys_info, the object, storage keys, then each storage as
  /// an i64 element count followed by its bytes.
  static func openLegacyStream(_ region: MappedRegion) throws(GraftError) -> PyTorchArchive {
    let path = region.path
    let scratch = TorchInterpreter(flavor: .legacy, file: path)
    let (magic, afterMagic) = try runPickle(region, at: 0, interpreter: scratch, what: "magic number")
    guard case .bigInt(let m) = magic.root, m == legacyMagic else {
      throw GraftError(
        .unrecognizedFormat,
        "a pickle stream whose first value is \(magic.root.summary), not the torch magic number "
          + "0x1950a86a20f9469cfc6c; this is a plain pickle, not a torch.save file",
        file: path, byteOffset: 0)
    }
    let (proto, afterProto) = try runPickle(region, at: afterMagic, interpreter: scratch, what: "protocol version")
    guard proto.root.int == 1001 else {
      throw GraftError(
        .unsupported, "legacy protocol version \(proto.root.summary); only 1001 exists", file: path,
        byteOffset: afterMagic)
    }
    let (info, afterInfo) = try runPickle(region, at: afterProto, interpreter: scratch, what: "sys_info")
    var bigEndian = false
    if let d = info.root.node, let little = d["little_endian"] { bigEndian = little.int == 0 }
    let interpreter = TorchInterpreter(flavor: .legacy, file: path)
    let (main, afterMain) = try runPickle(region, at: afterInfo, interpreter: interpreter, what: "main")
    let (keys, afterKeys) = try runPickle(region, at: afterMain, interpreter: scratch, what: "storage key list")
    guard let keyList = keys.root.sequence else {
      throw GraftError(
        .invalidHeader, "the storage key list is \(keys.root.summary), not a list", file: path, byteOffset: afterMain)
    }
    var storageBytes: [String: any TensorByteSource] = [:]
    var cursor = afterKeys
    for k in keyList {
      guard let key = k.string else {
        throw GraftError(.invalidHeader, "storage key \(k.summary) is not a string", file: path, byteOffset: afterMain)
      }
      guard let storage = interpreter.storages[key] else {
        throw GraftError(
          .invalidHeader, "the key list names storage '\(key)', which the pickle never references", file: path,
          byteOffset: afterMain)
      }
      var r = ByteReader(region.bytes(in: cursor..<region.count), baseOffset: cursor, file: path)
      let raw: Int64 = bigEndian ? try r.readBigEndian() : try r.readLittleEndian()
      guard raw >= 0, let width = storage.dtype.byteWidth, let size = Checked.multiply(Int(raw), width) else {
        throw GraftError(
          .invalidHeader, "storage '\(key)' declares \(raw) elements", file: path, byteOffset: cursor)
      }
      guard size <= r.remaining else {
        throw GraftError(
          .truncated,
          "storage '\(key)' declares \(raw) elements of \(storage.dtype) (\(size) bytes) but only \(r.remaining) "
            + "bytes remain",
          file: path, byteOffset: cursor + 8)
      }
      guard let needed = storage.byteCount, needed <= size else {
        throw GraftError(
          .invalidTensorInfo,
          "storage '\(key)' holds \(raw) elements but its persistent id declares \(storage.count)", file: path,
          byteOffset: cursor)
      }
      storageBytes[key] = MappedBytes(region: region, offset: cursor + 8, count: size)
      cursor += 8 + size
    }
    for key in interpreter.storages.keys where storageBytes[key] == nil {
      throw GraftError(
        .invalidTensorInfo, "storage '\(key)' is referenced but not in the file's storage list", file: path,
        byteOffset: afterMain)
    }
    let description =
      "PyTorch legacy stream (torch 0.4-1.5 / _use_new_zipfile_serialization=False), pickle protocol "
      + "\(main.proto)" + (bigEndian ? ", big-endian" : "")
    return PyTorchArchive(
      path: path, graph: main, formatDescription: description, storageBytes: storageBytes, bigEndian: bigEndian)
  }
}
