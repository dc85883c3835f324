public import GraftCore

extension GGUF {
  /// How to write a tensor table as GGUF.
  public struct TableWriteOptions: Sendable {
    /// The stored type of each tensor.
    public var target: Target = .keep
    /// Layout: alignment and splits.
    public var layout = WriteOptions()
    /// `general.architecture` when the metadata has none (GGUF requires the key).
    public var architecture: String?
    /// Creates default options: keep every tensor's type.
    public init() {}
  }

  /// The GGUF version of `general.quantization_version` (`GGML_QNT_VERSION`).
  public static let quantizationVersion: UInt32 = 2

  /// Writes a table: metadata as key-values (typed by `metadata["gguf.types"]`, else as gguf-py types Python
  /// values, each inference listed in the summary's notes), tensors in table order as ``TableWriteOptions/target``
  /// chooses (every departure from the target listed too).
  ///
  /// Adds `general.architecture` from the options when missing; for targets other than ``Target/keep``, adds
  /// `general.quantization_version` when a tensor is quantized and sets `general.file_type` to the target's `llama_ftype` (removing a stale one when no ftype
  /// describes the target). Aliases are written as copies, since GGUF has none.
  ///
  /// - Throws: `invalidArgument` when no architecture is known (set ``TableWriteOptions/architecture``), plus any
  ///   error of ``chooseTypes(_:target:facts:)`` and ``write(keyValues:tensors:to:options:inputs:progress:)``.
  @discardableResult
  public static func write(
    _ table: TensorTable, to path: String, options: TableWriteOptions = TableWriteOptions(), inputs: [String] = [],
    progress: ProgressCounter? = nil
  ) throws -> WriteSummary {
    var notes: [String] = []
    var metadata = table.metadata
    if metadata["general.architecture"] == nil {
      guard let arch = options.architecture else {
        throw GraftError(
          .invalidArgument, "GGUF requires general.architecture and the metadata has none; name the architecture",
          file: path
        ).resolved(by: "architecture")
      }
      // First, where gguf-py puts it.
      metadata = JSONObject([("general.architecture", .string(arch))] + metadata.map { ($0.key, $0.value) })
    }
    let entries = table.entries.map { (name: $0.name, tensor: $0.tensor) }
    for e in table.entries where e.aliasOf != nil {
      notes.append("alias '\(e.name)' of '\(e.aliasOf ?? "")' stored as a copy (GGUF has no aliases)")
    }
    let facts = options.target == .q4_K_M ? try ModelFacts(metadata: metadata) : nil
    let choices: [TypeChoice]
    do { choices = try chooseTypes(entries, target: options.target, facts: facts) } catch { throw error.inFile(path) }
    for c in choices {
      if let reason = c.reason { notes.append("'\(c.name)' → \(c.type.name): \(reason)") }
    }
    for (c, e) in zip(choices, entries)
    where e.tensor.isQuantized && c.type.rawValue != UInt32(e.tensor.quantization?.format.code ?? -1) {
      notes.append("'\(c.name)' re-encoded from \(e.tensor.storageTypeName) blocks to \(c.type.name)")
    }
    var keyValues = try metadataKeyValues(metadata, file: path, notes: &notes)
    let quantized = choices.contains { $0.type.isQuantized }
    // `.keep` writes the metadata as it is; a target that quantizes adds what the specification requires.
    if options.target != .keep && quantized && !keyValues.contains(where: { $0.key == "general.quantization_version" })
    {
      keyValues.append(GGUFKeyValue("general.quantization_version", .uint32(quantizationVersion)))
    }
    if options.target != .keep {
      keyValues.removeAll { $0.key == "general.file_type" }
      if let fileType = options.target.fileType {
        keyValues.append(GGUFKeyValue("general.file_type", .uint32(fileType)))
      } else {
        notes.append("general.file_type not written: no llama_ftype describes \(options.target)")
      }
    }
    let plans = zip(entries, choices).map { TensorPlan(name: $0.name, tensor: $0.tensor, type: $1.type) }
    var summary = try write(
      keyValues: keyValues, tensors: plans, to: path, options: options.layout, inputs: inputs, progress: progress)
    summary.notes = notes + summary.notes
    return summary
  }

  /// The metadata as typed key-values, in metadata order.
  static func metadataKeyValues(
    _ metadata: JSONObject, file: String, notes: inout [String]
  ) throws(GraftError) -> [GGUFKeyValue] {
    let types = metadata[typesKey]?.objectValue ?? JSONObject()
    var out: [GGUFKeyValue] = []
    for (key, json) in metadata where key != typesKey {
      let value: GGUFValue
      do {
        if let descriptor = types[key] {
          value = try GGUFValue(json: json, descriptor: descriptor, key: key)
        } else {
          value = try GGUFValue.inferred(from: json, key: key)
          notes.append("metadata '\(key)' has no GGUF type; written as \(describe(value)) (gguf-py's typing)")
        }
      } catch {
        throw error.inFile(file)
      }
      out.append(GGUFKeyValue(key, value))
    }
    return out
  }

  static func describe(_ value: GGUFValue) -> String {
    switch value.typeDescriptor {
    case .string(let s): return s
    default: return "ARRAY[ARRAY]"
    }
  }
}
