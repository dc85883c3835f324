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

  /// One converted block's dense MLP tensors, and its experts as lazy slices of them.
  ///
  /// Expert tensors are produced row by row from the dense tensors when they are written or checked; nothing of
  /// the experts' size is held in memory.
  struct DenseMLP {
    var w1: Tensor
    var b1: Tensor?
    var w2: Tensor
    var b2: Tensor?
    var prefix: String

    init(_ table: TensorTable, block: MoEDenseModel.Block) throws(GraftError) {
      let p = block.prefix
      guard let w1 = table[p + "fc1.weight"], let w2 = table[p + "fc2.weight"] else {
        throw GraftError(.invalidModel, "missing tensor", tensor: p + "fc1.weight")
      }
      self.w1 = w1
      self.w2 = w2
      b1 = table[p + "fc1.bias"]
      b2 = table[p + "fc2.bias"]
      prefix = p
    }

    var hidden: Int { w1.shape[0] }
    var width: Int { w1.shape[1] }
    var dtype: DType { w1.dtype }

    /// The leading axis of `sets.count` experts, or none for one unstacked expert.
    private func stack(_ sets: [[Int]], _ stacked: Bool) -> [Int] { stacked ? [sets.count] : [] }

    /// fc1 rows `sets[e]` (and columns `channels[e]`, teacher width) for each expert, stacked `[E, |set|, d]` or
    /// flat `[|set|, d]` for one set and `stacked == false`.
    func fc1(_ sets: [[Int]], channels: [[Int]]? = nil, stacked: Bool) throws(GraftError) -> Tensor {
      let shape = stack(sets, stacked) + [sets.first?.count ?? 0, channels?.first?.count ?? width]
      return try MoESlices(w1, name: prefix + "fc1.weight").blocks(
        experts: sets.count, rowSets: sets, columnSets: channels, shape: shape, dropping: .afterLastRange)
    }

    /// b1 at `sets[e]` for each expert, `[E, |set|]` or `[|set|]`.
    func bias1(_ sets: [[Int]], stacked: Bool) throws(GraftError) -> Tensor? {
      guard let b1 else { return nil }
      return try MoESlices(b1, name: prefix + "fc1.bias").blocks(
        experts: sets.count, rowSets: nil, columnSets: sets, shape: stack(sets, stacked) + [sets.first?.count ?? 0],
        dropping: .afterLastRange)
    }

    /// fc2 columns `sets[e]` (and rows `channels[e]`), `[E, d, |set|]` or `[d, |set|]`.
    func fc2(_ sets: [[Int]], channels: [[Int]]? = nil, stacked: Bool) throws(GraftError) -> Tensor {
      let shape = stack(sets, stacked) + [channels?.first?.count ?? width, sets.first?.count ?? 0]
      return try MoESlices(w2, name: prefix + "fc2.weight").blocks(
        experts: sets.count, rowSets: channels, columnSets: sets, shape: shape, dropping: .afterLastRange)
    }

    /// b2 (at `channels[e]`) once per expert, `[E, d]` or `[d]`.
    func bias2(_ experts: Int, channels: [[Int]]? = nil, stacked: Bool) throws(GraftError) -> Tensor? {
      guard let b2 else { return nil }
      let shape = (stacked ? [experts] : []) + [channels?.first?.count ?? width]
      return try MoESlices(b2, name: prefix + "fc2.bias").blocks(
        experts: experts, rowSets: nil, columnSets: channels, shape: shape, dropping: .afterLastRange)
    }
  }

  /// A ViT MoE pass's output and manifest: each block of `layers` replaced by what `convert` makes of it (its MLP's
  /// tensors, named relative to the MLP prefix, and its manifest entry), every other tensor kept, and the MoE
  /// configuration `parameters` describe written into the metadata under ``MoERecycle/metadataKey``.
  static func build(
    _ table: TensorTable, model: MoEDenseModel, layers: [Int], operation: String, parameters: JSONObject,
    layout: MoELayout, statisticsSource: String,
    convert: (_ block: Int) throws(GraftError) -> (tensors: [(String, Tensor)], layer: MoEManifest.Layer)
  ) throws(GraftError) -> (TensorTable, MoEManifest) {
    var replacements: [Int: [(String, Tensor)]] = [:]
    var manifestLayers: [MoEManifest.Layer] = []
    for b in layers {
      let converted = try convert(b)
      replacements[b] = converted.tensors
      manifestLayers.append(converted.layer)
    }
    let configuration = JSONValue.object(MoERecycle.configuration(parameters, layout: layout)).serialized()
    let out = try assemble(
      table, model: model, replacements: replacements, metadata: [MoERecycle.metadataKey: .string(configuration)])
    let manifest = MoEManifest(
      operation: operation, parameters: parameters, statisticsSource: statisticsSource, layers: manifestLayers)
    return (out, manifest)
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
