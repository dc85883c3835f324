public import GraftCore

extension PyTorchCheckpoint {
  /// The typed storage class torch pickles for a dtype, or `nil` when torch uses `UntypedStorage` +
  /// `_rebuild_tensor_v3` (fp8, uint16/32/64).
  static func storageClass(for dtype: DType) -> String? {
    TorchInterpreter.storageTypes.first { $0.value == dtype }?.key
  }

  /// Writes a table as a `.pth` file in the zip format `torch.save` uses, loadable by
  /// `torch.load(path, weights_only=True)`.
  ///
  /// The pickle (protocol 2) holds an `OrderedDict` of `_rebuild_tensor_v2` calls (`_rebuild_tensor_v3` over an
  /// `UntypedStorage` for dtypes without a legacy storage class, as torch does), optionally nested as
  /// `{nestUnder: OrderedDict}`. Each stored tensor gets its own 64-byte-aligned record `archive/data/N`; aliases
  /// reuse the memoised tensor, so `torch.load` returns one tensor object for both names. Tensor bytes stream from
  /// ``Tensor/forEachChunk(chunkSize:_:)`` with the CRC computed on the way, so memory stays bounded.
  ///
  /// - Throws: `unsupportedDType` for dtypes torch has no equivalent of (F6, F4), `io` errors from the output.
  public static func write(
    _ table: TensorTable, to path: String, options: WriteOptions = .init(), inputs: [String] = [],
    progress: ProgressCounter? = nil
  ) throws -> WriteSummary {
    try table.requireUnquantized(writer: "a PyTorch checkpoint", file: path)
    let stored = table.storedEntries
    var keys: [String: String] = [:]
    for (i, e) in stored.enumerated() {
      guard e.tensor.dtype.torchName != nil, e.tensor.dtype.byteWidth != nil else {
        throw GraftError(
          .unsupportedDType, "\(e.tensor.dtype) has no PyTorch storage Graft can write", file: path, tensor: e.name)
      }
      keys[e.name] = String(i)
    }
    var p = PickleWriter()
    if let nest = options.nestUnder {
      p.emptyDict()
      p.string(nest)
    }
    p.global("collections", "OrderedDict")
    p.emptyTuple()
    p.reduce()
    var tensorMemo: [String: Int] = [:]
    var pending = 0
    for entry in table.entries {
      // CPython batches SETITEMS by 1000; so do we, which keeps the stack small for huge state dicts.
      if pending == 0 { p.mark() }
      p.string(entry.name)
      if let target = entry.aliasOf, let memo = tensorMemo[target] {
        p.get(memo)
      } else {
        let t = entry.tensor
        let key = keys[entry.name] ?? "0"
        let typed = storageClass(for: t.dtype)
        p.global("torch._utils", typed == nil ? "_rebuild_tensor_v3" : "_rebuild_tensor_v2")
        p.mark()
        p.mark()
        p.string("storage")
        if let typed { p.global("torch", typed) } else { p.global("torch.storage", "UntypedStorage") }
        p.string(key)
        p.string("cpu")
        p.int(typed == nil ? t.byteCount : t.elementCount)
        p.tupleFromMark()
        p.persistentID()
        p.int(0)
        p.intTuple(t.shape)
        var strides = [Int](repeating: 1, count: t.shape.count)
        for d in stride(from: t.shape.count - 2, through: 0, by: -1) {
          strides[d] = strides[d + 1] * max(t.shape[d + 1], 1)
        }
        p.intTuple(strides)
        p.bool(false)
        p.global("collections", "OrderedDict")
        p.emptyTuple()
        p.reduce()
        if typed == nil, let name = t.dtype.torchName { p.global("torch", name) }
        p.tupleFromMark()
        tensorMemo[entry.name] = p.reduce()
      }
      pending += 1
      if pending == 1000 {
        p.setItems()
        pending = 0
      }
    }
    if pending > 0 { p.setItems() }
    if options.nestUnder != nil { p.setItem() }
    p.stop()

    progress?.expect(table.storedByteCount)
    var zip = try ZipWriter(destination: path, inputs: inputs, alignment: 64)
    let folder = "archive/"
    try zip.addMember(folder + "data.pkl", p.bytes)
    try zip.addMember(folder + ".format_version", Array("1".utf8))
    try zip.addMember(folder + ".storage_alignment", Array("64".utf8))
    try zip.addMember(folder + "byteorder", Array("little".utf8))
    for (i, e) in stored.enumerated() {
      try zip.beginMember(folder + "data/\(i)")
      try zip.write(tensor: e.tensor, named: e.name, file: path, progress: progress)
      try zip.endMember()
    }
    try zip.addMember(folder + "version", Array("3\n".utf8))
    // torch writes a 40-digit id; ours is derived from the content so that output bytes are deterministic.
    var h1 = XXHash64(seed: 1)
    var h2 = XXHash64(seed: 2)
    for crc in zip.memberChecksums {
      withUnsafeBytes(of: crc.littleEndian) {
        h1.update($0)
        h2.update($0)
      }
    }
    try zip.addMember(
      folder + ".data/serialization_id", Array((digits20(h1.finalize()) + digits20(h2.finalize())).utf8))
    let total = try zip.finish()
    return WriteSummary(files: [path], bytesWritten: total, storedTensorCount: stored.count)
  }

  private static func digits20(_ v: UInt64) -> String {
    let s = String(v)
    return String(repeating: "0", count: max(0, 20 - s.count)) + s
  }
}
