public import GraftCore

/// What `graft inspect` shows about a GGUF checkpoint, from headers only: the key-values (long arrays abbreviated in
/// ``lines(arrayPreview:includeTensors:)``, in full in ``json``), the architecture's hyperparameters, the tensors'
/// types and the quantization mix.
public struct GGUFInspection: Sendable {
  /// One stored type's share of the model.
  public struct TypeShare: Sendable, Equatable {
    /// The stored type.
    public var type: GGMLType
    /// Tensors of this type.
    public var tensorCount: Int
    /// Parameters (elements) stored as this type.
    public var parameterCount: Int
    /// Bytes stored as this type.
    public var byteCount: Int
  }

  /// The files read (several for a split checkpoint), in split order.
  public var files: [String]
  /// The format version of the first file.
  public var version: Int
  /// The data alignment of the first file.
  public var alignment: Int
  /// The key-values of the first file, in file order.
  public var keyValues: [GGUFKeyValue]
  /// The tensors of all files, in order.
  public var tensors: [GGUFTensorInfo]
  /// Files whose tensors are not laid out as ggml requires (llama.cpp would refuse them).
  public var nonGGMLLayoutFiles: [String]

  /// Reads the headers of `path` (and of the other splits of a split checkpoint).
  public static func inspect(path: String) throws(GraftError) -> GGUFInspection {
    let files = try GGUF.openAll(path: path)
    guard let first = files.first else { throw GraftError(.invalidArgument, "no GGUF file", file: path) }
    return GGUFInspection(
      files: files.map(\.path), version: first.version, alignment: first.alignment, keyValues: first.keyValues,
      tensors: files.flatMap(\.tensors), nonGGMLLayoutFiles: files.filter { !$0.hasGGMLLayout }.map(\.path))
  }

  /// `general.architecture`.
  public var architecture: String? { keyValues.first { $0.key == "general.architecture" }?.value.stringValue }

  /// The `<architecture>.*` keys: context length, embedding length, block count, heads, rope and expert settings.
  public var hyperparameters: [GGUFKeyValue] {
    guard let architecture else { return [] }
    return keyValues.filter { $0.key.hasPrefix(architecture + ".") }
  }

  /// Parameters, tensors and bytes per stored type, most parameters first.
  public var quantizationMix: [TypeShare] {
    var shares: [GGMLType: TypeShare] = [:]
    for t in tensors {
      var s = shares[t.type] ?? TypeShare(type: t.type, tensorCount: 0, parameterCount: 0, byteCount: 0)
      s.tensorCount += 1
      s.parameterCount += t.elementCount
      s.byteCount += t.byteCount
      shares[t.type] = s
    }
    return shares.values.sorted { ($0.parameterCount, $1.type.rawValue) > ($1.parameterCount, $0.type.rawValue) }
  }

  /// All parameters.
  public var parameterCount: Int { tensors.reduce(0) { $0 + $1.elementCount } }

  /// A value as one line: strings quoted, arrays as `[TYPE × n] first, …` with at most `preview` elements.
  public static func render(_ value: GGUFValue, preview: Int) -> String {
    switch value {
    case .string(let s): return quoted(s)
    case .array(let a):
      let head = (0..<min(a.count, preview)).map { render(a[$0], preview: preview) }
      let more = a.count > preview ? ", … (\(a.count - preview) more)" : ""
      return "[\(a.elementType) × \(a.count)] " + head.joined(separator: ", ") + more
    case .float32(let f): return "\(f)"
    default: return value.json.serialized()
    }
  }

  /// A string in double quotes, with control characters escaped and long strings cut at 120 characters.
  static func quoted(_ s: String) -> String {
    let text = JSONValue.string(String(s.prefix(120))).serialized()
    return s.count > 120 ? text + "… (\(s.count) characters)" : text
  }

  /// The inspection as text lines.
  ///
  /// - Parameters:
  ///   - arrayPreview: Elements shown per array (a vocabulary of 150,000 tokens shows its first few).
  ///   - includeTensors: Whether to list every tensor with its type and shape.
  public func lines(arrayPreview: Int = 8, includeTensors: Bool = true) -> [String] {
    var out: [String] = []
    let split = files.count > 1 ? ", \(files.count) splits" : ""
    out.append("GGUF v\(version), alignment \(alignment)\(split), \(keyValues.count) keys, \(tensors.count) tensors")
    for f in nonGGMLLayoutFiles {
      out.append("warning: \(f): tensor offsets are not ggml's running sum of padded sizes; llama.cpp refuses this")
    }
    if let architecture { out.append("architecture: \(architecture)") }
    let hyper = hyperparameters
    if !hyper.isEmpty {
      out.append("hyperparameters:")
      for kv in hyper { out.append("  \(kv.key) = \(Self.render(kv.value, preview: arrayPreview)) (\(kv.value.type))") }
    }
    out.append("metadata:")
    for kv in keyValues where !hyper.contains(kv) {
      out.append("  \(kv.key) = \(Self.render(kv.value, preview: arrayPreview))" + typeSuffix(kv.value))
    }
    let total = max(parameterCount, 1)
    out.append("quantization mix (\(Format.grouped(parameterCount)) parameters):")
    for s in quantizationMix {
      let percent = Format.fixed(100 * Double(s.parameterCount) / Double(total), digits: 1)
      out.append(
        "  " + Format.pad(s.type.name, 8) + Format.padLeft(Format.grouped(s.parameterCount), 16) + " params "
          + Format.padLeft(percent + "%", 7) + Format.padLeft("\(s.tensorCount)", 6) + " tensors"
          + Format.padLeft(Format.bytes(s.byteCount), 12))
    }
    if includeTensors {
      out.append("tensors (shapes in PyTorch order, ggml's ne reversed):")
      let width = min(64, tensors.map(\.name.count).max() ?? 4)
      for t in tensors {
        out.append(
          "  " + Format.pad(t.name, width) + "  " + Format.pad(t.type.name, 8) + "["
            + t.shape.map(String.init).joined(separator: ", ") + "]")
      }
    }
    return out
  }

  func typeSuffix(_ value: GGUFValue) -> String {
    value.type == .array || value.type == .string ? "" : " (\(value.type))"
  }

  /// Everything, arrays in full: `files`, `version`, `alignment`, `metadata` (`key` → `{type, value}`), `tensors`
  /// (`name`, `type`, `shape` in PyTorch order, `ggml_dims`, `offset`, `bytes`), `quantization_mix`.
  public var json: JSONValue {
    var o = JSONObject()
    o["files"] = .array(files.map(JSONValue.string))
    o["version"] = .integer(version)
    o["alignment"] = .integer(alignment)
    var metadata = JSONObject()
    for kv in keyValues { metadata[kv.key] = ["type": kv.value.typeDescriptor, "value": kv.value.json] }
    o["metadata"] = .object(metadata)
    o["tensors"] = .array(
      tensors.map { t in
        [
          "name": .string(t.name), "type": .string(t.type.name), "shape": .array(t.shape.map { .integer($0) }),
          "ggml_dims": .array(t.dimensions.map { .integer($0) }), "offset": .integer(t.offset),
          "bytes": .integer(t.byteCount),
        ]
      })
    o["quantization_mix"] = .array(
      quantizationMix.map { s in
        [
          "type": .string(s.type.name), "tensors": .integer(s.tensorCount), "parameters": .integer(s.parameterCount),
          "bytes": .integer(s.byteCount),
        ]
      })
    o["parameter_count"] = .integer(parameterCount)
    return .object(o)
  }
}
