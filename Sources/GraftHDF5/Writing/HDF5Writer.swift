#if HDF5
  import GraftCore

  /// Keras' `HDF5_OBJECT_HEADER_LIMIT`: string-list attributes larger than this are split into numbered chunks.
  let kerasAttributeLimit = 64512

  /// Writes one table as an HDF5 file in the requested layout.
  struct HDF5Writer {
    let table: TensorTable
    let destination: String
    let options: HDF5Checkpoint.WriteOptions
    let progress: ProgressCounter?

    /// libhdf5 creates and writes the file itself, so it writes at the temporary path ``AtomicOutputFile`` hands out,
    /// which then syncs it and renames it into place (or removes it on any error).
    func write(inputs: [String]) throws -> WriteSummary {
      try table.requireUnquantized(writer: "HDF5", file: destination)
      let notes = try AtomicOutputFile.withTemporaryPath(destination: destination, inputs: inputs) { temporary in
        try writeFile(at: temporary)
      }
      return WriteSummary(
        files: [destination], bytesWritten: try FileSystem.size(of: destination),
        storedTensorCount: table.storedEntries.count, notes: notes)
    }

    // MARK: - Paths

    /// Where every entry goes, and what the Keras layouts also write: computed once per write (the Keras order
    /// parses the model config).
    struct Layout {
      /// The HDF5 path of every entry (stored and alias).
      var paths: [String: [String]] = [:]
      /// Keras 2: the layers and their weights in load order.
      var keras2: KerasModelOrder?
      /// Keras 3: each layer's group with the layer's own name.
      var keras3Groups: [(group: String, layer: String)] = []
    }

    /// The HDF5 path of every entry (stored and alias) in the chosen layout.
    func layout() throws(GraftError) -> Layout {
      var layout = Layout()
      var result: [String: [String]] = [:]
      switch options.layout {
      case .plain, .auto:
        for name in table.names { result[name] = try HDF5Names.plainPath(of: name, flat: options.flat) }
      case .keras3:
        (result, layout.keras3Groups) = try keras3Layout()
      case .keras2:
        let order = try keras2Order()
        layout.keras2 = order
        for name in order.layers.flatMap(\.weights) {
          let (layer, weight) = try HDF5Names.keras2Location(of: name)
          result[name] = [layer] + weight.split(separator: "/").map(String.init)
        }
      }
      // A dataset cannot also be a group: `a.b` and `a.b.c` collide in nested mode.
      var byPath: [[String]: String] = [:]
      for name in table.names {
        guard let path = result[name] else { continue }
        if let other = byPath[path] {
          throw GraftError(.duplicateKey, "'\(other)' and this tensor map to the same HDF5 path", tensor: name)
        }
        byPath[path] = name
      }
      for name in table.names {
        guard let path = result[name] else { continue }
        for k in 1..<max(path.count, 1) {
          if let other = byPath[Array(path.prefix(k))] {
            throw GraftError(
              .invalidArgument,
              "'\(other)' is a dataset at /\(path.prefix(k).joined(separator: "/")), which this tensor needs as a "
                + "group; write with the flat option",
              tensor: name)
          }
        }
      }
      layout.paths = result
      return layout
    }

    /// The order Keras 2's loader reads weights in (``KerasModelOrder``).
    func keras2Order() throws(GraftError) -> KerasModelOrder {
      try KerasModelOrder(
        table,
        purpose: "a Keras 2 file is loaded by position, so it must list the layers and their weights in the order the "
          + "model creates them")
    }

    /// The Keras 3 path of every tensor, and the group of each layer with the layer's own name.
    ///
    /// Names already in Keras 3 form (`layers.conv2d.vars.0`) map directly; Keras 2 names need the recorded order and
    /// the model config (``KerasModelOrder``).
    func keras3Layout() throws(GraftError) -> (paths: [String: [String]], groups: [(group: String, layer: String)]) {
      if table.names.allSatisfy({ HDF5Names.keras3Parts($0) != nil }) {
        return (try HDF5Names.keras3Paths(of: table.names), [])
      }
      let purpose =
        "a Keras 3 file names each layer's group after the layer's class (layers/conv2d/vars/0) and numbers its "
        + "variables in creation order"
      let order = try KerasModelOrder(table, purpose: purpose)
      let groups = try KerasModelOrder.keras3GroupNames(table, purpose: purpose)
      var paths: [String: [String]] = [:]
      var named: [(group: String, layer: String)] = []
      for (layer, weights) in order.layers {
        guard let group = groups[layer] else {
          throw GraftError(
            .invalidArgument, "\(purpose), and layer '\(layer)' is not in the checkpoint's model_config",
            tensor: weights.first
          ).resolved(by: "hdf5Layout")
        }
        named.append((group, layer))
        for (k, name) in weights.enumerated() { paths[name] = ["layers", group, "vars", String(k)] }
      }
      return (paths, named)
    }

    // MARK: - Writing

    private func writeFile(at temporary: String) throws -> [String] {
      let layout = try layout()
      let paths = layout.paths
      var notes: [String] = []
      progress?.expect(table.storedByteCount)
      let file = try HDF5Library.createFile(temporary)
      let writeBack = WriteBackHint(path: temporary)
      var groups = Set<[String]>([[]])
      func ensureGroups(_ components: [String]) throws(GraftError) {
        for k in 1..<max(components.count, 1) {
          let prefix = Array(components.prefix(k))
          if groups.insert(prefix).inserted {
            _ = try HDF5Library.createGroup(file, "/" + prefix.joined(separator: "/"))
          }
        }
      }
      if let order = layout.keras2 {
        try writeKeras2Structure(file, order: order, paths: paths, ensureGroups: ensureGroups)
      }
      for entry in table.storedEntries {
        guard let components = paths[entry.name] else { continue }
        try ensureGroups(components)
        do {
          try writeDataset(file, components: components, tensor: entry.tensor) { writeBack.start() }
        } catch let error as GraftError {
          throw error.forTensor(entry.name)
        }
      }
      for (alias, target) in table.aliases {
        guard let components = paths[alias], let targetComponents = paths[target] else { continue }
        try ensureGroups(components)
        try HDF5Library.createHardLink(
          file, existing: "/" + targetComponents.joined(separator: "/"), newLocation: file,
          newName: "/" + components.joined(separator: "/"))
        notes.append("\(alias): written as a hard link to \(target)")
      }
      // Keras 3 saves the model's own (usually empty) variables in /vars, and each layer's name on its vars group.
      if options.layout == .keras3, groups.insert(["vars"]).inserted {
        _ = try HDF5Library.createGroup(file, "/vars")
      }
      if options.layout == .keras3 {
        for (group, layer) in layout.keras3Groups {
          let vars = try HDF5Library.openObject(file, "/layers/\(group)/vars")
          try HDF5Library.writeAttribute(vars, "name", .strings([layer], scalar: true))
        }
      }
      notes += try writeMetadata(file, groups: groups, datasets: Set(paths.values))
      try HDF5Library.closeFile(file)
      return notes
    }

    /// The Keras 2 root attributes (`layer_names`, `backend`, `keras_version`) and each layer's `weight_names`.
    private func writeKeras2Structure(
      _ file: borrowing HDF5Handle, order: KerasModelOrder, paths: [String: [String]],
      ensureGroups: (([String]) throws(GraftError) -> Void)
    ) throws(GraftError) {
      var layers: [String] = []
      var weights: [String: [String]] = [:]
      for name in order.layers.flatMap(\.weights) {
        guard let path = paths[name], let layer = path.first else { continue }
        if weights[layer] == nil { layers.append(layer) }
        weights[layer, default: []].append(path.dropFirst().joined(separator: "/"))
      }
      let root = try HDF5Library.openObject(file, "/")
      try writeChunkedStrings(root, "layer_names", layers)
      let backend = table.metadata["backend"]?.stringValue ?? "tensorflow"
      let version = table.metadata["keras_version"]?.stringValue ?? "graft"
      try HDF5Library.writeAttribute(root, "backend", .fixedStrings([backend], scalar: true))
      try HDF5Library.writeAttribute(root, "keras_version", .fixedStrings([version], scalar: true))
      // Keras creates layer groups in sorted order "to avoid prefix issues".
      for layer in layers.sorted() {
        try ensureGroups([layer, "_"])
        let group = try HDF5Library.openObject(file, "/" + layer)
        try writeChunkedStrings(group, "weight_names", weights[layer] ?? [])
      }
    }

    /// Writes a fixed-length string list, split into `name0`, `name1`, … the way Keras does when it exceeds 64 KB.
    private func writeChunkedStrings(
      _ object: borrowing HDF5Handle, _ name: String, _ values: [String]
    )
      throws(GraftError)
    {
      let width = max(1, values.map(\.utf8.count).max() ?? 1)
      guard width <= kerasAttributeLimit else {
        throw GraftError(.limitExceeded, "a name in '\(name)' is longer than Keras' 64512-byte attribute limit")
      }
      var chunks = 1
      // numpy.array_split: the first `count % chunks` pieces get one extra element.
      func pieces(_ n: Int) -> [[String]] {
        var result: [[String]] = []
        var start = 0
        for k in 0..<n {
          let size = values.count / n + (k < values.count % n ? 1 : 0)
          result.append(Array(values[start..<(start + size)]))
          start += size
        }
        return result
      }
      while pieces(chunks).contains(where: { ($0.map(\.utf8.count).max() ?? 0) * $0.count > kerasAttributeLimit }) {
        chunks += 1
      }
      if chunks == 1 {
        try HDF5Library.writeAttribute(object, name, .fixedStrings(values, scalar: false))
      } else {
        for (k, piece) in pieces(chunks).enumerated() {
          try HDF5Library.writeAttribute(object, name + String(k), .fixedStrings(piece, scalar: false))
        }
      }
    }

    /// Writes one tensor's bytes, streaming whole rows of the leading dimension from ``Tensor/forEachChunk``.
    ///
    /// `wrote` runs after every chunk (to start the disk's write-back while the next chunk is produced).
    private func writeDataset(
      _ file: borrowing HDF5Handle, components: [String], tensor: Tensor, wrote: () -> Void
    ) throws {
      let dtype = tensor.dtype
      let opaqueNames: [DType: String] = [
        .float8E4M3: "float8_e4m3fn", .float8E5M2: "float8_e5m2", .float8E4M3FNUZ: "float8_e4m3fnuz",
        .float8E5M2FNUZ: "float8_e5m2fnuz", .float8E8M0: "float8_e8m0fnu",
      ]
      guard dtype.byteWidth != nil, dtype != .float6E2M3, dtype != .float6E3M2 else {
        throw GraftError(.unsupportedDType, "HDF5 has no representation Keras or h5py read for \(dtype)")
      }
      let type = try HDF5Library.makeType(for: dtype, bfloat16AsFloat: options.layout == .keras2)
      let dims = tensor.shape
      let count = tensor.elementCount
      let chunk =
        options.compress && !dims.isEmpty && count > 0 ? chunkShape(dims, elementSize: dtype.byteWidth ?? 1) : nil
      let path = "/" + components.joined(separator: "/")
      let dataset = try HDF5Library.createDataset(file, path, type: type, dims: dims, chunk: chunk)
      if dtype == .bfloat16 {
        try HDF5Library.writeAttribute(dataset, "dtype", .strings(["bfloat16"], scalar: true))
      } else if let name = opaqueNames[dtype] {
        try HDF5Library.writeAttribute(dataset, "dtype", .strings([name], scalar: true))
      }
      guard count > 0 else { return }
      let total = tensor.byteCount
      let rowBytes = dims.isEmpty ? total : total / dims[0]
      let rowsPerWrite = max(1, (8 << 20) / max(rowBytes, 1))
      var row = 0
      try tensor.forEachChunk(chunkSize: rowsPerWrite * rowBytes) { bytes in
        let rows = dims.isEmpty ? 1 : bytes.count / rowBytes
        try HDF5Library.writeRows(dataset, type: type, dims: dims, rows: row..<(row + rows), from: bytes)
        row += rows
        progress?.advance(by: bytes.count)
        wrote()
      }
    }

    /// Chunk dimensions of about 1 MiB: whole trailing dimensions, splitting the leading ones.
    private func chunkShape(_ dims: [Int], elementSize: Int) -> [Int] {
      let target = 1 << 20
      var chunk = dims.map { max($0, 1) }
      for i in chunk.indices {
        let inner = chunk[(i + 1)...].reduce(elementSize) { Checked.multiply($0, $1) ?? Int.max }
        if Checked.multiply(inner, chunk[i]).map({ $0 <= target }) ?? false { break }
        if inner >= target {
          chunk[i] = 1
        } else {
          chunk[i] = max(1, min(chunk[i], target / inner))
          break
        }
      }
      return chunk
    }

    // MARK: - Metadata

    /// Root keys become root attributes, `/path@name` keys attributes of that object; `hdf5.*` keys describe a read
    /// and are not written back.
    private func writeMetadata(
      _ file: borrowing HDF5Handle, groups: Set<[String]>, datasets: Set<[String]>
    )
      throws(GraftError) -> [String]
    {
      var notes: [String] = []
      let structural: Set<String> =
        options.layout == .keras2 ? ["layer_names", "weight_names", "backend", "keras_version"] : []
      for (key, value) in table.metadata {
        if key.hasPrefix("hdf5.") || structural.contains(key) { continue }
        var objectPath = "/"
        var name = key
        if key.hasPrefix("/"), let at = key.lastIndex(of: "@") {
          objectPath = String(key[..<at])
          name = String(key[key.index(after: at)...])
          let components = objectPath.split(separator: "/").map(String.init)
          guard groups.contains(components) || datasets.contains(components) else {
            notes.append("metadata '\(key)': no object \(objectPath) in this layout; not written")
            continue
          }
        }
        let object = try HDF5Library.openObject(file, objectPath)
        try HDF5Library.writeAttribute(object, name, HDF5Writer.attribute(value))
      }
      if !table.lineage.isEmpty {
        let root = try HDF5Library.openObject(file, "/")
        let text = JSONValue.array(table.lineage.map(\.json)).serialized()
        try HDF5Library.writeAttribute(root, "graft.lineage", .strings([text], scalar: true))
      }
      return notes
    }

    /// The attribute form of a JSON value; objects, nulls and mixed arrays are stored as their JSON text.
    static func attribute(_ value: JSONValue) -> HDF5AttributeInput {
      switch value {
      case .string(let s): return .strings([s], scalar: true)
      case .int(let i): return .integers([i], scalar: true)
      case .double(let d): return .doubles([d], scalar: true)
      case .bool(let b): return .booleans([b], scalar: true)
      case .array(let items):
        if items.isEmpty { return .doubles([], scalar: false) }
        let strings = items.compactMap(\.stringValue)
        if strings.count == items.count { return .strings(strings, scalar: false) }
        let bools = items.compactMap(\.boolValue)
        if bools.count == items.count { return .booleans(bools, scalar: false) }
        let ints = items.compactMap { item -> Int64? in if case .int(let i) = item { return i } else { return nil } }
        if ints.count == items.count { return .integers(ints, scalar: false) }
        let doubles = items.compactMap(\.doubleValue)
        if doubles.count == items.count { return .doubles(doubles, scalar: false) }
        return .strings([value.serialized()], scalar: true)
      default:
        return .strings([value.serialized()], scalar: true)
      }
    }
  }
#endif
