#if HDF5
  import GraftCore

  extension HDF5Reader {
    /// The layout found, then every group and dataset (dtype, shape, storage) with its attributes, one per line.
    func describe() throws(GraftError) -> String {
      let (layout, reason) = try detectLayout()
      var lines = ["HDF5 file (libhdf5 \(HDF5Library.version ?? "?")), layout \(layout.rawValue): \(reason)"]
      lines += try attributeLines(of: [], indent: "  ")
      for node in nodes {
        let indent = String(repeating: "  ", count: node.components.count)
        if node.isGroup {
          lines.append(indent + (node.components.last ?? "") + "/")
        } else {
          lines.append(indent + (node.components.last ?? "") + "  " + (try datasetSummary(node.components)))
        }
        lines += try attributeLines(of: node.components, indent: indent + "  ")
      }
      return lines.joined(separator: "\n")
    }

    private func datasetSummary(_ components: [String]) throws(GraftError) -> String {
      let dataset = try open(components)
      let type = try HDF5Library.datasetType(dataset)
      let info = try HDF5Library.typeInfo(type)
      let space = try HDF5Library.datasetSpace(dataset)
      let dims = try HDF5Library.dimensions(ofSpace: space)
      let storage = try HDF5Library.storage(of: dataset)
      var parts: [String] = []
      switch HDF5Reader.format(of: info, dtypeAttribute: try dtypeAttribute(dataset)) {
      case .success(let f): parts.append(f.dtype.rawValue + (info.bigEndian && info.size > 1 ? " (big-endian)" : ""))
      case .failure(let reason): parts.append("not a tensor: " + reason)
      }
      parts.append(dims.map { "\($0)" } ?? "null dataspace")
      var layout = storage.layout
      if !storage.filters.isEmpty { layout += " [" + storage.filters.joined(separator: ", ") + "]" }
      if storage.externalFiles > 0 { layout += " external" }
      parts.append(layout + ", \(storage.storedBytes) bytes stored")
      return parts.joined(separator: "  ")
    }

    private func attributeLines(of components: [String], indent: String) throws(GraftError) -> [String] {
      let object = try open(components)
      let count = try HDF5Library.objectInfo(object).attributes
      var lines: [String] = []
      for i in 0..<count {
        let name = try HDF5Library.attributeName(object, at: i)
        let value = try attribute(object, name)
        var text = HDF5Reader.json(value)?.serialized() ?? "<unsupported type>"
        if text.count > 120 { text = String(text.prefix(117)) + "..." }
        lines.append(indent + "@" + name + " = " + text)
      }
      return lines
    }
  }
#endif
