public import GraftCore

extension PyTorchArchive {
  /// Every state-dict candidate (``stateDictCandidates``) read as its own table, names relative to its path, with
  /// the checkpoint's top-level scalars (`checkpoint.<key>`) in each table's metadata.
  ///
  /// - Throws: the errors of ``table(select:stripPrefixes:)``.
  public func stateDictTables() throws(GraftError) -> [(path: String, table: TensorTable)] {
    var out: [(path: String, table: TensorTable)] = []
    for c in stateDictCandidates { out.append((c.path, try table(select: c.path, stripPrefixes: []))) }
    return out
  }
}
