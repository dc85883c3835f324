/// One operation in a file's history, as recorded in ``TensorTable/lineage``.
public struct LineageRecord: Sendable, Hashable {
  /// The operation, such as `convert` or `moe.recycle`.
  public var operation: String
  /// The tool that performed it, such as `graft 0.1.0`.
  public var tool: String
  /// The operation's parameters.
  public var parameters: JSONValue
  /// Content digests of the inputs (see ``TensorTable/contentDigest()``), as `xxh64:<16 hex digits>`.
  public var inputs: [String]
  /// The content digest of the output.
  public var output: String?

  /// Creates a record.
  public init(
    operation: String, tool: String, parameters: JSONValue = .object(JSONObject()), inputs: [String] = [],
    output: String? = nil
  ) {
    self.operation = operation
    self.tool = tool
    self.parameters = parameters
    self.inputs = inputs
    self.output = output
  }

  /// A placeholder input digest meaning "the content digest of this record's output".
  ///
  /// A writer that computes the output digest while streaming replaces it, so a conversion that does not change any
  /// tensor need not read its input twice to record where it came from.
  public static let sameAsOutput = "same-as-output"

  /// The record as JSON.
  public var json: JSONValue {
    var o = JSONObject()
    o["operation"] = .string(operation)
    o["tool"] = .string(tool)
    o["parameters"] = parameters
    o["inputs"] = .array(inputs.map(JSONValue.string))
    if let output { o["output"] = .string(output) }
    return .object(o)
  }

  /// Reads a record from JSON.
  public init?(json: JSONValue) {
    guard let o = json.objectValue, let op = o["operation"]?.stringValue else { return nil }
    operation = op
    tool = o["tool"]?.stringValue ?? ""
    parameters = o["parameters"] ?? .object(JSONObject())
    inputs = o["inputs"]?.arrayValue?.compactMap(\.stringValue) ?? []
    output = o["output"]?.stringValue
  }
}

/// A checkpoint in memory: an ordered table of named tensors plus metadata, aliases and lineage.
///
/// This is the one model every reader produces and every writer and surgery pass consumes. Tensors are lazy, so a
/// table of a 100 GB checkpoint costs only its headers.
///
/// Aliases are names that refer to another entry's storage (tied weights, PyTorch tensors sharing a storage).
/// Formats that can keep aliases (`.graft`, `.pth`) store the bytes once; safetensors writers record them in
/// metadata the way `safetensors.torch.save_model` does.
public struct TensorTable: Sendable {
  /// One named tensor.
  public struct Entry: Sendable {
    /// The tensor's name.
    public var name: String
    /// The tensor.
    public var tensor: Tensor
    /// For an alias, the name of the entry whose bytes this one shares.
    public var aliasOf: String?
  }

  /// The entries in order.
  public private(set) var entries: [Entry] = []
  private var index: [String: Int] = [:]
  /// Free-form metadata.
  ///
  /// safetensors files carry string values only; `.graft` keeps any JSON.
  public var metadata = JSONObject()
  /// The operations that produced this checkpoint, oldest first.
  public var lineage: [LineageRecord] = []
  /// The file or folder the table was read from, so that passes and the engine can name it in their errors; `nil` for
  /// a table built in memory.
  public var source: String?
  /// For a file holding several tensor collections (a training checkpoint's `model` and `model_ema`): which one this
  /// table holds, how it was chosen and what else the file offers; `nil` when the reader had nothing to choose.
  public var collection: CollectionChoice?

  /// Creates an empty table.
  public init() {}

  /// The number of entries (aliases included).
  public var count: Int { entries.count }
  /// The names in order (aliases included).
  public var names: [String] { entries.map(\.name) }
  /// Whether the table has no entries.
  public var isEmpty: Bool { entries.isEmpty }

  /// The tensor for a name, or `nil`.
  public subscript(name: String) -> Tensor? { index[name].map { entries[$0].tensor } }

  /// The entry for a name, or `nil`.
  public func entry(_ name: String) -> Entry? { index[name].map { entries[$0] } }

  /// Whether the table has a name.
  public func contains(_ name: String) -> Bool { index[name] != nil }

  /// Appends a tensor.
  ///
  /// - Throws: `duplicateKey` when the name exists.
  public mutating func append(_ name: String, _ tensor: Tensor) throws(GraftError) {
    guard index[name] == nil else { throw GraftError(.duplicateKey, "the name appears twice", tensor: name) }
    index[name] = entries.count
    entries.append(Entry(name: name, tensor: tensor, aliasOf: nil))
  }

  /// Appends an alias of an existing entry (which must not itself be an alias).
  public mutating func appendAlias(_ name: String, of target: String) throws(GraftError) {
    guard let t = index[target] else {
      throw GraftError(.tensorNotFound, "alias target '\(target)' does not exist", tensor: name)
    }
    guard index[name] == nil else { throw GraftError(.duplicateKey, "the name appears twice", tensor: name) }
    let root = entries[t].aliasOf ?? target
    index[name] = entries.count
    entries.append(Entry(name: name, tensor: entries[t].tensor, aliasOf: root))
  }

  /// Replaces the tensor stored under `name` (its aliases follow).
  public mutating func replace(_ name: String, with tensor: Tensor) throws(GraftError) {
    guard let i = index[name] else { throw GraftError(.tensorNotFound, "no such tensor", tensor: name) }
    let root = entries[i].aliasOf ?? name
    for k in entries.indices where entries[k].name == root || entries[k].aliasOf == root {
      entries[k].tensor = tensor
    }
  }

  /// Removes entries for which `shouldRemove` is true.
  ///
  /// Removing an alias target promotes its first remaining alias.
  public mutating func removeAll(where shouldRemove: (Entry) throws -> Bool) rethrows {
    var kept: [Entry] = []
    var promoted: [String: String] = [:]
    for e in entries {
      if try shouldRemove(e) { continue }
      var e = e
      if let target = e.aliasOf {
        if let p = promoted[target] {
          e.aliasOf = p == e.name ? nil : p
        } else if index[target].map({ (try? shouldRemove(entries[$0])) ?? false }) ?? true {
          promoted[target] = e.name
          e.aliasOf = nil
        }
      }
      kept.append(e)
    }
    entries = kept
    rebuildIndex()
  }

  /// Renames entries with `transform` (returning `nil` keeps a name).
  ///
  /// Aliases follow their targets.
  ///
  /// - Throws: `duplicateKey` when two names collide after renaming.
  public mutating func rename(_ transform: (String) throws -> String?) throws {
    var map: [String: String] = [:]
    for e in entries { map[e.name] = try transform(e.name) ?? e.name }
    var seen = Set<String>()
    for e in entries {
      let n = map[e.name] ?? e.name
      guard seen.insert(n).inserted else {
        throw GraftError(.duplicateKey, "renaming maps two tensors to this name", tensor: n)
      }
    }
    for k in entries.indices {
      entries[k].name = map[entries[k].name] ?? entries[k].name
      if let a = entries[k].aliasOf { entries[k].aliasOf = map[a] ?? a }
    }
    rebuildIndex()
  }

  /// Reorders entries; `areInIncreasingOrder` compares entries.
  public mutating func sort(by areInIncreasingOrder: (Entry, Entry) throws -> Bool) rethrows {
    try entries.sort(by: areInIncreasingOrder)
    rebuildIndex()
  }

  private mutating func rebuildIndex() {
    index = [:]
    for (i, e) in entries.enumerated() { index[e.name] = i }
  }

  /// Entries that own their bytes (not aliases).
  public var storedEntries: [Entry] { entries.filter { $0.aliasOf == nil } }

  /// Alias name → target name.
  public var aliases: [(alias: String, target: String)] {
    entries.compactMap { e in e.aliasOf.map { (e.name, $0) } }
  }

  /// The number of parameters (elements) over stored entries, aliases counted once.
  public var parameterCount: Int { storedEntries.reduce(0) { $0 + $1.tensor.elementCount } }
  /// The number of bytes over stored entries, aliases counted once.
  public var storedByteCount: Int { storedEntries.reduce(0) { $0 + $1.tensor.byteCount } }
}

extension TensorTable {
  /// The shape of a tensor that model builders require, checked for rank.
  ///
  /// - Throws: `invalidModel` naming the tensor when it is missing or has another rank; `missingHint`, when given,
  ///   says why the tensor is expected.
  public func requiredShape(_ name: String, rank: Int, missingHint: String? = nil) throws(GraftError) -> [Int] {
    guard let t = self[name] else {
      throw GraftError(.invalidModel, "missing tensor" + (missingHint.map { "; " + $0 } ?? ""), tensor: name)
    }
    guard t.shape.count == rank else {
      throw GraftError(.invalidModel, "has shape \(t.shape); expected rank \(rank)", tensor: name)
    }
    return t.shape
  }

  /// The number of numbered children under a prefix: `layers.` with `layers.0.…` … `layers.5.…` gives 6.
  ///
  /// It is one more than the largest index found, so a gap in the numbering still counts the missing layers (and the
  /// model builder then reports the missing tensors by name).
  public func indexedCount(prefix: String) -> Int {
    var largest = -1
    for n in names where n.hasPrefix(prefix) {
      if let i = Int(n.dropFirst(prefix.count).prefix { $0 != "." }) { largest = max(largest, i) }
    }
    return largest + 1
  }
}
