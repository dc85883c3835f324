public import GraftCore

/// What `graft inspect` shows of an HDF5 file: the layout found and every group and dataset with its attributes,
/// as values (``json``) and as text (``lines``).
public struct HDF5Description: Sendable {
  /// One group or dataset.
  public struct Object: Sendable {
    /// The path components below the root.
    public var components: [String]
    /// Whether it is a group (else a dataset).
    public var isGroup: Bool
    /// A dataset's dtype, when it holds a tensor.
    public var dtype: DType?
    /// Why a dataset holds no tensor.
    public var notTensor: String?
    /// Whether a dataset's multi-byte elements are big-endian.
    public var bigEndian = false
    /// A dataset's dimensions (`nil` for a null dataspace).
    public var shape: [Int]?
    /// A dataset's storage layout (`contiguous`, `chunked`, `compact`).
    public var layout: String?
    /// A dataset's filters (`deflate`, `shuffle`, `fletcher32`, …).
    public var filters: [String] = []
    /// Whether a dataset's bytes are in external files.
    public var external = false
    /// A dataset's stored bytes.
    public var storedBytes: Int?
    /// The attributes in order (`nil` values have a type Graft does not read).
    public var attributes: [(name: String, value: JSONValue?)] = []
  }

  /// The libhdf5 version that read the file.
  public var libraryVersion: String
  /// The layout detected.
  public var layout: HDF5Checkpoint.Layout
  /// Why that layout.
  public var layoutReason: String
  /// The root group's attributes.
  public var rootAttributes: [(name: String, value: JSONValue?)]
  /// Every group and dataset, in traversal order.
  public var objects: [Object]

  /// The description as data.
  public var json: JSONValue {
    func attributes(_ list: [(name: String, value: JSONValue?)]) -> JSONValue {
      .object(JSONObject(list.map { ($0.name, $0.value ?? .null) }))
    }
    return .object(
      JSONObject([
        ("library", .string("libhdf5 " + libraryVersion)), ("layout", .string(layout.rawValue)),
        ("layout_reason", .string(layoutReason)), ("attributes", attributes(rootAttributes)),
        (
          "objects",
          .array(
            objects.map { object in
              var o = JSONObject()
              o["path"] = .string("/" + object.components.joined(separator: "/"))
              o["kind"] = .string(object.isGroup ? "group" : "dataset")
              if !object.isGroup {
                o["dtype"] = object.dtype.map { .string($0.rawValue) } ?? .null
                if let reason = object.notTensor { o["not_a_tensor"] = .string(reason) }
                o["big_endian"] = .bool(object.bigEndian)
                o["shape"] = object.shape.map { .array($0.map(JSONValue.integer)) } ?? .null
                o["layout"] = object.layout.map(JSONValue.string) ?? .null
                o["filters"] = .array(object.filters.map(JSONValue.string))
                o["external"] = .bool(object.external)
                o["stored_bytes"] = object.storedBytes.map(JSONValue.integer) ?? .null
              }
              o["attributes"] = attributes(object.attributes)
              return .object(o)
            })
        ),
      ]))
  }

  /// The description as text: the layout line, then one line per object and attribute, indented by depth.
  public var lines: [String] {
    func attributeLines(_ list: [(name: String, value: JSONValue?)], indent: String) -> [String] {
      list.map { attribute in
        var text = attribute.value?.serialized() ?? "<unsupported type>"
        if text.count > 120 { text = String(text.prefix(117)) + "..." }
        return indent + "@" + attribute.name + " = " + text
      }
    }
    var out = ["HDF5 file (libhdf5 \(libraryVersion)), layout \(layout.rawValue): \(layoutReason)"]
    out += attributeLines(rootAttributes, indent: "  ")
    for object in objects {
      let indent = String(repeating: "  ", count: object.components.count)
      let name = object.components.last ?? ""
      if object.isGroup {
        out.append(indent + name + "/")
      } else {
        var parts: [String] = []
        if let dtype = object.dtype {
          parts.append(dtype.rawValue + (object.bigEndian ? " (big-endian)" : ""))
        } else {
          parts.append("not a tensor: " + (object.notTensor ?? "unknown type"))
        }
        parts.append(object.shape.map { "\($0)" } ?? "null dataspace")
        var layout = object.layout ?? "?"
        if !object.filters.isEmpty { layout += " [" + object.filters.joined(separator: ", ") + "]" }
        if object.external { layout += " external" }
        parts.append(layout + ", \(object.storedBytes ?? 0) bytes stored")
        out.append(indent + name + "  " + parts.joined(separator: "  "))
      }
      out += attributeLines(object.attributes, indent: indent + "  ")
    }
    return out
  }
}

#if HDF5
  extension HDF5Reader {
    /// The layout found, then every group and dataset (dtype, shape, storage) with its attributes.
    func describe() throws(GraftError) -> HDF5Description {
      let (layout, reason) = try detectLayout()
      var objects: [HDF5Description.Object] = []
      for node in nodes {
        var object = HDF5Description.Object(components: node.components, isGroup: node.isGroup)
        if !node.isGroup { try describeDataset(node.components, into: &object) }
        object.attributes = try attributes(of: node.components)
        objects.append(object)
      }
      return HDF5Description(
        libraryVersion: HDF5Library.version ?? "?", layout: layout, layoutReason: reason,
        rootAttributes: try attributes(of: []), objects: objects)
    }

    private func describeDataset(
      _ components: [String], into object: inout HDF5Description.Object
    ) throws(GraftError) {
      let dataset = try open(components)
      let type = try HDF5Library.datasetType(dataset)
      let info = try HDF5Library.typeInfo(type)
      let space = try HDF5Library.datasetSpace(dataset)
      let storage = try HDF5Library.storage(of: dataset)
      switch HDF5Reader.format(of: info, dtypeAttribute: try dtypeAttribute(dataset)) {
      case .success(let f):
        object.dtype = f.dtype
        object.bigEndian = info.bigEndian && info.size > 1
      case .failure(let reason): object.notTensor = reason
      }
      object.shape = try HDF5Library.dimensions(ofSpace: space)
      object.layout = storage.layout
      object.filters = storage.filters
      object.external = storage.externalFiles > 0
      object.storedBytes = storage.storedBytes
    }

    private func attributes(of components: [String]) throws(GraftError) -> [(name: String, value: JSONValue?)] {
      let object = try open(components)
      let count = try HDF5Library.objectInfo(object).attributes
      var out: [(name: String, value: JSONValue?)] = []
      for i in 0..<count {
        let name = try HDF5Library.attributeName(object, at: i)
        out.append((name, HDF5Reader.json(try attribute(object, name))))
      }
      return out
    }
  }
#endif
