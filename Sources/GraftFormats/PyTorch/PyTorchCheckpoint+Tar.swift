import GraftCore

extension PyTorchCheckpoint {
  /// The most tar members scanned before giving up (torch's tar layout has four).
  static let maxTarMembers = 4096

  /// Lists the members of a tar file as name → (data offset, size).
  static func tarMembers(_ region: MappedRegion) throws(GraftError) -> [String: (offset: Int, size: Int)] {
    let path = region.path
    var members: [String: (offset: Int, size: Int)] = [:]
    var at = 0
    var scanned = 0
    while at + 512 <= region.count {
      let header = region.bytes(in: at..<(at + 512))
      if header.allSatisfy({ $0 == 0 }) { break }
      scanned += 1
      guard scanned <= maxTarMembers else {
        throw GraftError(
          .limitExceeded, "the tar file has more than \(maxTarMembers) members", file: path, byteOffset: at)
      }
      let nameBytes = header[0..<100].prefix { $0 != 0 }
      var name = String(decoding: nameBytes, as: UTF8.self)
      if Array(header[257..<262]) == Array("ustar".utf8) {
        let prefix = String(decoding: header[345..<500].prefix { $0 != 0 }, as: UTF8.self)
        if !prefix.isEmpty { name = prefix + "/" + name }
      }
      var size = 0
      for b in header[124..<136] where b >= 0x30 && b <= 0x37 {
        guard let next = Checked.multiply(size, 8).flatMap({ Checked.add($0, Int(b - 0x30)) }) else {
          throw GraftError(.overflow, "tar member '\(name)' size overflows", file: path, byteOffset: at + 124)
        }
        size = next
      }
      let data = at + 512
      guard let end = Checked.add(data, size), end <= region.count else {
        throw GraftError(
          .truncated, "tar member '\(name)' declares \(size) bytes but the file ends first", file: path,
          byteOffset: at + 124)
      }
      let type = header[156]
      if type == 0x30 || type == 0 { members[name] = (data, size) }
      at = data + (size + 511) / 512 * 512
    }
    return members
  }

  /// Reads the torch ≤ 0.3 tar layout: `storages` (count, then per storage a pickled `(key, location, type)`, an
  /// i64 element count and the bytes; then a pickled list of views), `tensors` (count, then per tensor a pickled
  /// `(key, storage_key, type)` and i32 ndim, 4 pad bytes, sizes, strides, offset as i64) and `pickle`.
  static func openTar(_ region: MappedRegion) throws(GraftError) -> PyTorchArchive {
    let path = region.path
    let members = try tarMembers(region)
    guard let storagesMember = members["storages"], let tensorsMember = members["tensors"],
      let pickleMember = members["pickle"]
    else {
      throw GraftError(
        .unrecognizedFormat,
        "a tar file without the members 'storages', 'tensors' and 'pickle' of torch <= 0.3; it has "
          + "\(members.keys.sorted().prefix(8))",
        file: path, byteOffset: 0)
    }
    let scratch = TorchInterpreter(flavor: .legacy, file: path)
    // Graphs clear their nodes when released, so every small pickle's graph is kept until the end.
    var graphs: [PickleGraph] = []
    func run(_ at: Int, limit: Int, what: String) throws(GraftError) -> (PickleValue, Int) {
      let end = min(limit, at + maxPickleBytes)
      guard at < end else {
        throw GraftError(.truncated, "the tar member ends before the \(what) pickle", file: path, byteOffset: at)
      }
      let (graph, used) = try PickleMachine.run(
        region.bytes(in: at..<end), baseOffset: at, file: path, interpreter: scratch)
      graphs.append(graph)
      return (graph.root, at + used)
    }
    func key(_ v: PickleValue) -> String? { v.string ?? v.int.map(String.init) }

    var storageBytes: [String: any TensorByteSource] = [:]
    var storages: [String: TorchStorageRef] = [:]
    let storagesEnd = storagesMember.offset + storagesMember.size
    var (countValue, cursor) = try run(storagesMember.offset, limit: storagesEnd, what: "storage count")
    guard let storageCount = countValue.int, storageCount >= 0, storageCount <= storagesMember.size else {
      throw GraftError(
        .invalidHeader, "the storage count is \(countValue.summary)", file: path, byteOffset: storagesMember.offset)
    }
    for _ in 0..<storageCount {
      let (args, next) = try run(cursor, limit: storagesEnd, what: "storage header")
      guard let items = args.sequence, items.count == 3, let k = key(items[0]),
        let typeName = items[2].globalName?.split(separator: ".").last,
        let dtype = TorchInterpreter.storageTypes[String(typeName)], let width = dtype.byteWidth
      else {
        throw GraftError(
          .invalidHeader, "storage header \(args.summary) is not (key, location, storage type)", file: path,
          byteOffset: cursor)
      }
      var r = ByteReader(region.bytes(in: next..<storagesEnd), baseOffset: next, file: path)
      let count: Int64 = try r.readLittleEndian()
      guard count >= 0, let size = Checked.multiply(Int(count), width), size <= r.remaining else {
        throw GraftError(
          .truncated, "storage '\(k)' declares \(count) elements of \(dtype) beyond the member's end", file: path,
          byteOffset: next)
      }
      storages[k] = TorchStorageRef(key: k, dtype: dtype, count: Int(count), isUntyped: false)
      storageBytes[k] = MappedBytes(region: region, offset: next + 8, count: size)
      cursor = next + 8 + size
    }
    let (views, _) = try run(cursor, limit: storagesEnd, what: "storage views")
    for v in views.sequence ?? [] {
      guard let items = v.sequence, items.count == 4, let target = key(items[0]), let rootKey = key(items[1]),
        let root = storages[rootKey], let offset = items[2].int, let count = items[3].int, offset >= 0, count >= 0,
        offset <= root.count, count <= root.count - offset
      else {
        throw GraftError(
          .invalidTensorInfo, "storage view \(v.summary) does not fit its root storage", file: path,
          byteOffset: cursor)
      }
      storages[target] = TorchStorageRef(
        key: rootKey, dtype: root.dtype, count: count, elementOffset: offset, isUntyped: false)
    }

    let interpreter = TorchInterpreter(flavor: .legacy, file: path)
    let tensorsEnd = tensorsMember.offset + tensorsMember.size
    (countValue, cursor) = try run(tensorsMember.offset, limit: tensorsEnd, what: "tensor count")
    guard let tensorCount = countValue.int, tensorCount >= 0, tensorCount <= tensorsMember.size else {
      throw GraftError(
        .invalidHeader, "the tensor count is \(countValue.summary)", file: path, byteOffset: tensorsMember.offset)
    }
    for _ in 0..<tensorCount {
      let (args, next) = try run(cursor, limit: tensorsEnd, what: "tensor header")
      guard let items = args.sequence, items.count == 3, let k = key(items[0]), let sk = key(items[1]) else {
        throw GraftError(
          .invalidHeader, "tensor header \(args.summary) is not (key, storage, type)", file: path, byteOffset: cursor)
      }
      guard let storage = storages[sk] else {
        throw GraftError(
          .invalidTensorInfo, "tensor '\(k)' uses storage '\(sk)', which the file does not contain", file: path,
          byteOffset: cursor)
      }
      var r = ByteReader(region.bytes(in: next..<tensorsEnd), baseOffset: next, file: path)
      let ndim = Int(try r.readLittleEndian(Int32.self))
      guard ndim >= 0, ndim <= 64 else {
        throw GraftError(.invalidHeader, "tensor '\(k)' has \(ndim) dimensions", file: path, byteOffset: next)
      }
      try r.skip(4)
      var shape: [Int] = []
      var strides: [Int] = []
      for _ in 0..<ndim { shape.append(Int(try r.readLittleEndian(Int64.self))) }
      for _ in 0..<ndim { strides.append(Int(try r.readLittleEndian(Int64.self))) }
      let offset = Int(try r.readLittleEndian(Int64.self))
      guard shape.allSatisfy({ $0 >= 0 }), strides.allSatisfy({ $0 >= 0 }), offset >= 0 else {
        throw GraftError(
          .invalidTensorInfo, "tensor '\(k)' has size \(shape), stride \(strides), offset \(offset) (negative)",
          file: path, byteOffset: next)
      }
      interpreter.tarObjects[k] = TorchTensorRef(
        storage: storage, dtype: storage.dtype, storageOffset: offset + storage.elementOffset, shape: shape,
        strides: strides, pickleOffset: next)
      cursor = r.absoluteOffset
    }
    let end = pickleMember.offset + pickleMember.size
    guard pickleMember.size <= maxPickleBytes else {
      throw GraftError(
        .limitExceeded, "the pickle member is \(pickleMember.size) bytes; the cap is \(maxPickleBytes)", file: path,
        byteOffset: pickleMember.offset)
    }
    let (graph, _) = try PickleMachine.run(
      region.bytes(in: pickleMember.offset..<end), baseOffset: pickleMember.offset, file: path,
      interpreter: interpreter)
    return PyTorchArchive(
      path: path, graph: graph,
      formatDescription: "PyTorch legacy tar (torch <= 0.3), pickle protocol \(graph.proto)",
      storageBytes: storageBytes, bigEndian: false)
  }
}
