#if HDF5
  import GraftCore

  /// Reads the tensors of one HDF5 file: walks the group tree, detects the layout and builds lazy tensors.
  final class HDF5Reader {
    /// One object found while walking the file.
    struct Node {
      /// Path components from the root.
      var components: [String]
      var isGroup: Bool
      /// Hard links to one object share an identity.
      var identity: UInt64

      var path: String { "/" + components.joined(separator: "/") }
    }

    let path: String
    let file: HDF5SharedFile
    private(set) var nodes: [Node] = []
    /// The file mapped once for zero-copy datasets, on first need.
    var region: MappedRegion?
    let fileSize: Int

    /// Datasets and attributes that hold no tensor, with the reason.
    var skipped: [String] = []
    let limits: HDF5Checkpoint.Limits

    init(path: String, limits: HDF5Checkpoint.Limits = .init()) throws(GraftError) {
      self.limits = limits
      guard FileSystem.exists(path) else { throw GraftError(.io, "no such file", file: path) }
      if FileSystem.isDirectory(path) { throw GraftError(.io, "is a directory, not an HDF5 file", file: path) }
      self.path = path
      self.fileSize = try FileSystem.size(of: path)
      self.file = HDF5SharedFile(handle: try HDF5Library.openFile(path), path: path)
      try walk()
    }

    // MARK: - Walking

    /// Collects every group and dataset, refusing soft, external and user-defined links as Keras' loader does.
    private func walk() throws(GraftError) {
      var visitedGroups = Set<UInt64>()
      let root = try HDF5Library.openObject(file.handle, "/")
      visitedGroups.insert(try HDF5Library.objectInfo(root).identity)
      try walk(root, components: [], visited: &visitedGroups)
    }

    private func walk(
      _ group: borrowing HDF5Handle, components: [String], visited: inout Set<UInt64>
    )
      throws(GraftError)
    {
      let count = try HDF5Library.linkCount(group)
      let byCreationOrder = HDF5Library.tracksCreationOrder(group)
      for i in 0..<count {
        let name = try HDF5Library.linkName(group, at: i, byCreationOrder: byCreationOrder)
        let childComponents = components + [name]
        let childPath = "/" + childComponents.joined(separator: "/")
        switch try HDF5Library.linkKind(group, name) {
        case .hard: break
        case .soft:
          throw GraftError(
            .unsupported, "\(childPath) is a soft link; Graft refuses soft and external links, as Keras does")
        case .external:
          throw GraftError(
            .unsupported,
            "\(childPath) is an external link to another file; Graft refuses external links, as Keras does")
        case .userDefined:
          throw GraftError(.unsupported, "\(childPath) is a user-defined link, which Graft does not follow")
        }
        let child = try HDF5Library.openObject(group, name)
        let identity = try HDF5Library.objectInfo(child).identity
        switch HDF5Library.kind(of: child) {
        case .group:
          nodes.append(Node(components: childComponents, isGroup: true, identity: identity))
          guard visited.insert(identity).inserted else { continue }
          try walk(child, components: childComponents, visited: &visited)
        case .dataset:
          nodes.append(Node(components: childComponents, isGroup: false, identity: identity))
        case .namedDatatype, .other:
          continue
        }
      }
    }

    /// Opens the object at a path.
    func open(_ components: [String]) throws(GraftError) -> HDF5Handle {
      try HDF5Library.openObject(file.handle, "/" + components.joined(separator: "/"))
    }

    func exists(_ components: [String]) -> Bool { nodes.contains { $0.components == components } }

    // MARK: - Layout detection

    /// The layout of the file and a phrase saying why.
    func detectLayout() throws(GraftError) -> (HDF5Checkpoint.Layout, String) {
      let hasVars = nodes.contains { n in
        !n.isGroup && n.components.count >= 2 && n.components[n.components.count - 2] == "vars"
          && n.components.last?.allSatisfy(\.isNumber) == true
      }
      let root = try open([])
      if hasVars && (exists(["layers"]) || exists(["vars"]) || exists(["optimizer"])) {
        return (.keras3, "datasets named <layer>/vars/<i> (Keras 3 .weights.h5)")
      }
      if try hasChunkedAttribute(root, "layer_names") {
        return (.keras2, "a 'layer_names' attribute on the root group (Keras 2 save_weights)")
      }
      if exists(["model_weights"]), try hasChunkedAttribute(try open(["model_weights"]), "layer_names") {
        return (.keras2, "a 'model_weights' group with 'layer_names' (Keras 2 full-model save)")
      }
      return (.plain, "no Keras markers; datasets in groups (plain h5py layout)")
    }

    // MARK: - Reading

    func read(layout requested: HDF5Checkpoint.Layout) throws(GraftError) -> TensorTable {
      let (detected, _) = try detectLayout()
      let layout = requested == .auto ? detected : requested
      var table = TensorTable()
      switch layout {
      case .keras2:
        try readKeras2(into: &table)
        // Keras 2 loads by position: keep the order, which formats that sort tensors by name would lose.
        table.metadata[KerasModelOrder.orderKey] = .array(table.names.map(JSONValue.string))
      case .plain, .keras3, .auto: try readPlain(into: &table)
      }
      if !skipped.isEmpty { table.metadata["hdf5.skipped"] = .array(skipped.map(JSONValue.string)) }
      table.metadata["hdf5.layout"] = .string(layout.rawValue)
      if table.isEmpty && layout == .plain {
        throw GraftError(.unrecognizedFormat, "the file is HDF5 but holds no tensors; found " + foundSummary())
      }
      return table
    }

    /// What the file contains, for the "not a checkpoint" message.
    private func foundSummary() -> String {
      let groups = nodes.filter(\.isGroup).map(\.path)
      var parts = [
        "\(groups.count) group(s)" + (groups.isEmpty ? "" : " (\(groups.prefix(5).joined(separator: ", ")))")
      ]
      parts.append(
        skipped.isEmpty ? "no datasets" : "non-tensor datasets: " + skipped.prefix(5).joined(separator: "; "))
      return parts.joined(separator: ", ")
    }

    private func readPlain(into table: inout TensorTable) throws(GraftError) {
      var stored: [UInt64: String] = [:]
      try readAttributes(of: [], into: &table, structural: ["graft.lineage"])
      if let lineage = try lineageAttribute() { table.lineage = lineage }
      for node in nodes {
        if node.isGroup {
          try readAttributes(of: node.components, into: &table, structural: [])
          continue
        }
        let name = HDF5Names.plainName(of: node.components)
        if let target = stored[node.identity] {
          try table.appendAlias(name, of: target)
          continue
        }
        guard let tensor = try dataset(node.components, name: name) else { continue }
        do { try table.append(name, tensor) } catch {
          throw GraftError(
            .duplicateKey, "two datasets map to this name (\(node.path) and a path with dots in a link name)",
            tensor: name)
        }
        stored[node.identity] = name
        try readAttributes(of: node.components, into: &table, structural: ["dtype"])
      }
    }

    private func readKeras2(into table: inout TensorTable) throws(GraftError) {
      let root = try open([])
      let weightsGroup: [String] = try hasChunkedAttribute(root, "layer_names") ? [] : ["model_weights"]
      let structural: Set<String> = ["layer_names", "weight_names", "graft.lineage"]
      try readAttributes(of: [], into: &table, structural: structural)
      if !weightsGroup.isEmpty { try readAttributes(of: weightsGroup, into: &table, structural: structural) }
      if let lineage = try lineageAttribute() { table.lineage = lineage }
      let group = try open(weightsGroup)
      let layers = try chunkedStrings(group, "layer_names", at: weightsGroup)
      var stored: [UInt64: String] = [:]
      for layer in layers {
        let layerComponents = weightsGroup + [layer]
        guard exists(layerComponents) else {
          throw GraftError(
            .invalidHeader,
            "'layer_names' lists '\(layer)' but there is no group /\(layerComponents.joined(separator: "/"))")
        }
        let layerGroup = try open(layerComponents)
        let weights = try chunkedStrings(layerGroup, "weight_names", at: layerComponents)
        for weight in weights {
          let components = layerComponents + weight.split(separator: "/").map(String.init)
          let name = HDF5Names.keras2Name(layer: layer, weight: weight)
          guard let node = nodes.first(where: { $0.components == components && !$0.isGroup }) else {
            throw GraftError(
              .invalidHeader,
              "'weight_names' of layer '\(layer)' lists '\(weight)' but there is no dataset "
                + "/\(components.joined(separator: "/"))", tensor: name)
          }
          if let target = stored[node.identity] {
            try table.appendAlias(name, of: target)
            continue
          }
          guard let tensor = try dataset(components, name: name) else { continue }
          try table.append(name, tensor)
          stored[node.identity] = name
        }
      }
      let optimizer = nodes.filter { !$0.isGroup && $0.components.first == "optimizer_weights" }
      if !optimizer.isEmpty {
        skipped.append("/optimizer_weights (\(optimizer.count) Keras 2 optimizer datasets, not read)")
      }
    }

    // MARK: - Attributes

    /// Whether `name` or `name0` exists (Keras splits attributes over 64 KB into numbered chunks).
    private func hasChunkedAttribute(_ object: borrowing HDF5Handle, _ name: String) throws(GraftError) -> Bool {
      HDF5Library.hasAttribute(object, name) || HDF5Library.hasAttribute(object, name + "0")
    }

    /// Reads an attribute within the reader's caps.
    func attribute(_ object: borrowing HDF5Handle, _ name: String) throws(GraftError) -> HDF5AttributeValue {
      try HDF5Library.readAttribute(object, name, limits: limits)
    }

    /// Reads a string-list attribute stored whole or as `name0`, `name1`, … (Keras' `load_attributes_from_hdf5_group`).
    func chunkedStrings(
      _ object: borrowing HDF5Handle, _ name: String, at components: [String]
    ) throws(GraftError)
      -> [String]
    {
      var values: [HDF5AttributeValue] = []
      if HDF5Library.hasAttribute(object, name) {
        values.append(try attribute(object, name))
      } else {
        var k = 0
        while HDF5Library.hasAttribute(object, name + String(k)) {
          values.append(try attribute(object, name + String(k)))
          k += 1
        }
      }
      var result: [String] = []
      for value in values {
        switch value {
        case .strings(let s, _): result += s
        case .doubles(let d, _) where d.isEmpty: continue  // Keras writes an empty float64 array for "no weights"
        case .integers(let d, _) where d.isEmpty: continue
        default:
          throw GraftError(
            .invalidHeader, "attribute '\(name)' of /\(components.joined(separator: "/")) is not a list of strings")
        }
      }
      return result
    }

    private func lineageAttribute() throws(GraftError) -> [LineageRecord]? {
      let root = try open([])
      guard HDF5Library.hasAttribute(root, "graft.lineage"),
        case .strings(let s, _) = try attribute(root, "graft.lineage"), let text = s.first,
        let records = (try? JSONParser.parse(text))?.arrayValue
      else { return nil }
      return records.compactMap(LineageRecord.init(json:))
    }

    /// Adds an object's attributes to the metadata: root ones under their names, others as `/path@name`.
    private func readAttributes(
      of components: [String], into table: inout TensorTable, structural: Set<String>
    )
      throws(GraftError)
    {
      let object = try open(components)
      let count = try HDF5Library.objectInfo(object).attributes
      for i in 0..<count {
        let name = try HDF5Library.attributeName(object, at: i)
        if structural.contains(name) { continue }
        let key = components.isEmpty ? name : "/" + components.joined(separator: "/") + "@" + name
        if let json = try HDF5Reader.json(attribute(object, name)) {
          table.metadata[key] = json
        } else {
          skipped.append("attribute \(key) (type not representable as JSON)")
        }
      }
    }

    /// The JSON form of an attribute; scalars become scalars, arrays arrays.
    static func json(_ value: HDF5AttributeValue) -> JSONValue? {
      func wrap(_ values: [JSONValue], _ scalar: Bool) -> JSONValue {
        scalar && values.count == 1 ? values[0] : .array(values)
      }
      switch value {
      case .strings(let s, let scalar): return wrap(s.map(JSONValue.string), scalar)
      case .integers(let v, let scalar): return wrap(v.map(JSONValue.int), scalar)
      case .unsignedIntegers(let v, let scalar):
        return wrap(v.map { $0 <= UInt64(Int64.max) ? .int(Int64($0)) : .double(Double($0)) }, scalar)
      case .doubles(let v, let scalar): return wrap(v.map(JSONValue.double), scalar)
      case .booleans(let v, let scalar): return wrap(v.map(JSONValue.bool), scalar)
      case .unsupported: return nil
      }
    }
  }
#endif
