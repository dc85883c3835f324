import GraftCore

/// Assembles a pass's output: every source tensor not in a converted MLP, unchanged and in order, with each converted
/// block's new tensors where its dense MLP was.
enum MoEAssembly {
  /// Refuses a top-k outside `1...experts` (both passes route each token to k of the experts).
  static func checkTopK(_ topK: Int, experts: Int) throws(GraftError) {
    guard topK >= 1, topK <= experts else {
      throw GraftError(.invalidArgument, "top-k must be in 1...\(experts) (the number of experts); got \(topK)")
    }
  }

  /// One converted block's dense MLP tensors, read once.
  struct DenseMLP {
    var w1: Tensor
    var b1: Tensor?
    var w2: Tensor
    var b2: Tensor?
    var w1Bytes: [UInt8]
    var w2Bytes: [UInt8]
    var b1Bytes: [UInt8]?
    var b2Bytes: [UInt8]?
    var elementSize: Int

    init(_ table: TensorTable, block: MoEDenseModel.Block) throws(GraftError) {
      let p = block.prefix
      guard let w1 = table[p + "fc1.weight"], let w2 = table[p + "fc2.weight"], let size = w1.dtype.byteWidth else {
        throw GraftError(.invalidModel, "missing tensor", tensor: p + "fc1.weight")
      }
      self.w1 = w1
      self.w2 = w2
      b1 = table[p + "fc1.bias"]
      b2 = table[p + "fc2.bias"]
      w1Bytes = try MoEValues.bytes(w1, name: p + "fc1.weight")
      w2Bytes = try MoEValues.bytes(w2, name: p + "fc2.weight")
      b1Bytes = try b1.map { t throws(GraftError) in try MoEValues.bytes(t, name: p + "fc1.bias") }
      b2Bytes = try b2.map { t throws(GraftError) in try MoEValues.bytes(t, name: p + "fc2.bias") }
      elementSize = size
    }

    var hidden: Int { w1.shape[0] }
    var width: Int { w1.shape[1] }
    var dtype: DType { w1.dtype }

    /// fc1 rows for each set, stacked `[sets, |set|, d]` (or flat `[|set|, d]` for one set and `stacked == false`).
    func fc1(_ sets: [[Int]], stacked: Bool) -> Tensor {
      let k = sets.first?.count ?? 0
      return MoEValues.gatherRows(
        w1Bytes, columns: width, elementSize: elementSize, sets: sets, dtype: dtype,
        shape: stacked ? [sets.count, k, width] : [k, width])
    }

    func bias1(_ sets: [[Int]], stacked: Bool) -> Tensor? {
      guard let b1Bytes else { return nil }
      let k = sets.first?.count ?? 0
      return MoEValues.gatherRows(
        b1Bytes, columns: 1, elementSize: elementSize, sets: sets, dtype: dtype,
        shape: stacked ? [sets.count, k] : [k])
    }

    func fc2(_ sets: [[Int]], stacked: Bool) -> Tensor {
      let k = sets.first?.count ?? 0
      return MoEValues.gatherColumns(
        w2Bytes, rows: width, columns: hidden, elementSize: elementSize, sets: sets, dtype: dtype,
        shape: stacked ? [sets.count, width, k] : [width, k])
    }

    /// b2 repeated `count` times `[count, d]`.
    func bias2Tiled(_ count: Int) -> Tensor? {
      guard let b2Bytes else { return nil }
      return MoEValues.tile(b2Bytes, count: count, dtype: dtype, shape: [count, width])
    }

    /// A lazy copy of a whole tensor: copies share no storage object with the source, so writers never turn them
    /// into aliases, and nothing is duplicated in memory before it is written.
    static func lazyCopy(_ t: Tensor) -> Tensor {
      let source = t.bytes
      return Tensor(
        dtype: t.dtype, shape: t.shape,
        bytes: ProducedBytes(byteCount: t.byteCount) { range, buffer in
          try source.copyBytes(in: range, into: buffer)
        })
    }
  }

  /// The output table.
  static func assemble(
    _ table: TensorTable, model: MoEDenseModel, replacements: [Int: [(String, Tensor)]], metadata: [String: JSONValue]
  ) throws(GraftError) -> TensorTable {
    var out = TensorTable()
    out.metadata = table.metadata
    for (k, v) in metadata.sorted(by: { $0.key < $1.key }) { out.metadata[k] = v }
    out.lineage = table.lineage
    var prefixes: [String: Int] = [:]
    for b in replacements.keys { prefixes[model.blocks[b].prefix] = b }
    var emitted = Set<Int>()
    var pendingAliases: [(String, String)] = []
    for entry in table.entries {
      let name = entry.name
      if let mlp = prefixes.first(where: { name.hasPrefix($0.key) }),
        ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"].contains(String(name.dropFirst(mlp.key.count)))
      {
        if entry.aliasOf == nil, emitted.insert(mlp.value).inserted {
          for (n, t) in replacements[mlp.value] ?? [] { try out.append(mlp.key + n, t) }
        }
        continue
      }
      if let target = entry.aliasOf {
        pendingAliases.append((name, target))
      } else {
        try out.append(name, entry.tensor)
      }
    }
    for (name, target) in pendingAliases where out.contains(target) { try out.appendAlias(name, of: target) }
    return out
  }
}
