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

  /// Splits a flattened container (``TrainingCheckpoint/init(flattened:)``); aliases inside `model` and
  /// `ema_state` are kept.
  ///
  /// - Throws: `invalidModel` when the table has no `model.` names.
  public init(flattened table: TensorTable) throws(GraftError) {
    guard Self.isContainer(table) else {
      throw GraftError(.invalidModel, "not a detectron2 training checkpoint: no 'model.' entries")
    }
    let parts = try TrainingCheckpoint(flattened: table)
    var model = parts.section("model")?.table ?? TensorTable()
    model.metadata = table.metadata
    let ema = parts.section("ema_state")?.table
    let others = parts.sections.filter { $0.path != "model" && $0.path != "ema_state" }.map {
      ($0.path, $0.table.count)
    }
    self.init(model: model, emaState: ema.flatMap { $0.isEmpty ? nil : $0 }, otherEntries: others)
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
