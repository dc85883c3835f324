/// Which of several tensor collections in one file a table holds (``TensorTable/collection``).
///
/// Training checkpoints keep the model next to its EMA copy, the optimizer state or several sub-models; a reader
/// picks one, and whoever reports on the table says which, so that no choice is silent.
public struct CollectionChoice: Sendable, Hashable {
  /// One collection the file holds.
  public struct Candidate: Sendable, Hashable {
    /// Its path inside the file (`model`, `model_ema`, `optimizer.state`; empty for the root).
    public var path: String
    /// The number of tensors under it.
    public var tensorCount: Int

    /// Creates a candidate.
    public init(path: String, tensorCount: Int) {
      self.path = path
      self.tensorCount = tensorCount
    }

    /// `model (12 tensors)`, or `(root) (12 tensors)`.
    public var description: String { "'\(path.isEmpty ? "(root)" : path)' (\(tensorCount) tensors)" }
  }

  /// The path of the collection the table holds.
  public var selected: String
  /// Whether the reader chose it (by convention) rather than being told which.
  public var isAutomatic: Bool
  /// Every collection the file holds, the selected one included, in file order.
  public var candidates: [Candidate]

  /// Creates a choice.
  public init(selected: String, isAutomatic: Bool, candidates: [Candidate]) {
    self.selected = selected
    self.isAutomatic = isAutomatic
    self.candidates = candidates
  }

  /// The collections the table does not hold.
  public var others: [Candidate] { candidates.filter { $0.path != selected } }

  /// One line for reports: which collection was read and how it was chosen, and what else the file holds.
  ///
  /// `nil` when the file holds nothing else, since there was nothing to choose.
  public var note: String? {
    let rest = others
    guard !rest.isEmpty else { return nil }
    let name = selected.isEmpty ? "(root)" : selected
    let how = isAutomatic ? "chosen automatically by its conventional key" : "selected"
    return "state dict '\(name)' (\(how)); the file also holds "
      + rest.map(\.description).joined(separator: ", ") + ", read with the select option"
  }

  /// The choice as data.
  public var json: JSONValue {
    .object(
      JSONObject([
        ("selected", .string(selected)), ("automatic", .bool(isAutomatic)),
        (
          "candidates",
          .array(
            candidates.map {
              .object(JSONObject([("path", .string($0.path)), ("tensors", .integer($0.tensorCount))]))
            })
        ),
      ]))
  }
}
