public import GraftCore

/// A detectron2 training checkpoint: `{"model", "trainer", "iteration", optional "ema_state"}` as tensor tables.
///
/// Readers that flatten nested PyTorch containers give names such as `model.backbone.…` and `ema_state.…`;
/// ``init(flattened:)`` splits those back into the state dicts and the rest.
public struct DetectronTrainingCheckpoint: Sendable {
  /// The `model` state dict.
  public var model: TensorTable
  /// The `ema_state` state dict, when EMA was enabled during training.
  public var emaState: TensorTable?
  /// Top-level entries other than `model` and `ema_state` (`trainer`, `iteration`, `optimizer`, …) with the number
  /// of tensors each held.
  public var otherEntries: [(name: String, tensors: Int)]

  /// Creates a checkpoint from its parts.
  public init(model: TensorTable, emaState: TensorTable? = nil, otherEntries: [(name: String, tensors: Int)] = []) {
    self.model = model
    self.emaState = emaState
    self.otherEntries = otherEntries
  }

  /// Whether a flattened table looks like a training container (it has `model.` names).
  public static func isContainer(_ table: TensorTable) -> Bool {
    table.names.contains { $0.hasPrefix("model.") }
  }

  /// Splits a flattened container; aliases inside `model` and `ema_state` are kept.
  ///
  /// - Throws: `invalidModel` when the table has no `model.` names.
  public init(flattened table: TensorTable) throws(GraftError) {
    guard Self.isContainer(table) else {
      throw GraftError(.invalidModel, "not a detectron2 training checkpoint: no 'model.' entries")
    }
    var model = TensorTable()
    var ema = TensorTable()
    var others: [(name: String, tensors: Int)] = []
    for e in table.entries {
      let (head, rest) = Self.split(e.name)
      let target: String? = e.aliasOf.map { Self.split($0).rest }
      switch head {
      case "model":
        if let target, Self.split(e.aliasOf ?? "").head == "model", model.contains(target) {
          try model.appendAlias(rest, of: target)
        } else {
          try model.append(rest, e.tensor)
        }
      case "ema_state":
        if let target, Self.split(e.aliasOf ?? "").head == "ema_state", ema.contains(target) {
          try ema.appendAlias(rest, of: target)
        } else {
          try ema.append(rest, e.tensor)
        }
      default:
        if let i = others.firstIndex(where: { $0.name == head }) {
          others[i].tensors += 1
        } else {
          others.append((head, 1))
        }
      }
    }
    model.metadata = table.metadata
    self.init(model: model, emaState: ema.isEmpty ? nil : ema, otherEntries: others)
  }

  private static func split(_ name: String) -> (head: String, rest: String) {
    guard let dot = name.firstIndex(of: ".") else { return (name, "") }
    return (String(name[..<dot]), String(name[name.index(after: dot)...]))
  }

  /// The checkpoint flattened back into one table (`model.…`, `ema_state.…`), aliases preserved.
  public func flattened() throws(GraftError) -> TensorTable {
    var out = TensorTable()
    for (prefix, table) in [("model.", model), ("ema_state.", emaState ?? TensorTable())] {
      for e in table.entries {
        if let a = e.aliasOf {
          try out.appendAlias(prefix + e.name, of: prefix + a)
        } else {
          try out.append(prefix + e.name, e.tensor)
        }
      }
    }
    out.metadata = model.metadata
    return out
  }
}
