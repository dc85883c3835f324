public import GraftCore

/// A training checkpoint as its tensor-holding parts: `state_dict`, `model_ema`, `optimizer.state`, Lightning's
/// `callbacks.<name>.…`, DeepSpeed's `module`, detectron2's `model` / `ema_state`, each a table of its own.
///
/// Readers give the parts either by their exact paths (PyTorch archives list their state-dict candidates) or as one
/// table flattened from the root, which ``init(flattened:)`` splits by the first name component.
public struct TrainingCheckpoint: Sendable {
  /// One part: its path in the checkpoint and its tensors, names relative to the path.
  public struct Section: Sendable {
    /// The dotted path (`state_dict_ema`, `callbacks.EMACallback.ema_state_dict`); empty for the root.
    public var path: String
    /// The tensors.
    public var table: TensorTable

    /// Creates a section.
    public init(path: String, table: TensorTable) {
      self.path = path
      self.table = table
    }
  }

  /// The parts, in checkpoint order.
  public var sections: [Section]
  /// Top-level scalars (`epoch`, `global_step`, …) as the reader recorded them.
  public var metadata: JSONObject

  /// Creates a checkpoint from its parts.
  public init(sections: [Section], metadata: JSONObject = JSONObject()) {
    self.sections = sections
    self.metadata = metadata
  }

  /// Creates a checkpoint from `(path, table)` parts as a reader lists them; the metadata (top-level scalars) is
  /// the first part's.
  public init(parts: [(path: String, table: TensorTable)]) {
    self.init(
      sections: parts.map { Section(path: $0.path, table: $0.table) },
      metadata: parts.first?.table.metadata ?? JSONObject())
  }

  /// The section at `path`, if any.
  public func section(_ path: String) -> Section? { sections.first { $0.path == path } }

  /// Splits a table flattened from the root by the first component of each name; aliases within one part are kept.
  public init(flattened table: TensorTable) throws(GraftError) {
    var order: [String] = []
    var parts: [String: TensorTable] = [:]
    for e in table.entries {
      let (head, rest) = Self.split(e.name)
      if parts[head] == nil { order.append(head) }
      var part = parts[head] ?? TensorTable()
      if let target = e.aliasOf, Self.split(target).head == head, part.contains(Self.split(target).rest) {
        try part.appendAlias(rest, of: Self.split(target).rest)
      } else {
        try part.append(rest, e.tensor)
      }
      parts[head] = part
    }
    self.init(sections: order.map { Section(path: $0, table: parts[$0] ?? TensorTable()) }, metadata: table.metadata)
  }

  private static func split(_ name: String) -> (head: String, rest: String) {
    guard let dot = name.firstIndex(of: ".") else { return (name, "") }
    return (String(name[..<dot]), String(name[name.index(after: dot)...]))
  }
}
