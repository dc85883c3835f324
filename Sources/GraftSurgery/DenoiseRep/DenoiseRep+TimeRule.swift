public import GraftCore

extension DenoiseRep {
  /// Re-derives each layer's T with the public converters' traversal rule.
  ///
  /// `convert_denoise_linear` and `convert_vit_denoise_linear` decrement their counter after each Linear they wrap,
  /// but the counter is local to each recursion frame, so a subtree starts from its parent's current value. A layer's
  /// T is therefore `N` minus the number of wrapped Linears that precede it, or precede one of its ancestors, among
  /// the direct children of the same module. For a ViT that gives every `mlp.fc1` T = N and every `mlp.fc2` T = N−1.
  ///
  /// Child order is the order in which names first appear in the table, which is module order for a PyTorch state
  /// dict; safetensors files sort names, which keeps `fc1 < fc2` and `0 < 2` but not every custom order, hence the
  /// `--t-map` override.
  ///
  /// - Parameters:
  ///   - layers: the wrapped layers, as ``findLayers(in:)`` returns them.
  ///   - table: the table the layers come from (for child order).
  ///   - layerCount: N; `nil` means the number of wrapped layers (what `count_vit_linear_layers` and
  ///     `count_linear_layers` return for the models the converters are used on).
  /// - Returns: layer prefix → T.
  public static func traversalTimesteps(
    for layers: [Layer], in table: TensorTable, layerCount: Int? = nil
  )
    -> [String: Int]
  {
    let n = layerCount ?? layers.count
    // The rank of each module path among its siblings, from first appearance in the table.
    var firstSeen: [String: Int] = [:]
    for (i, name) in table.names.enumerated() {
      var path = ""
      for part in name.split(separator: ".", omittingEmptySubsequences: false).dropLast() {
        path = path.isEmpty ? String(part) : path + "." + part
        if firstSeen[path] == nil { firstSeen[path] = i }
      }
    }
    var wrappedChildren: [String: [String]] = [:]
    for layer in layers { wrappedChildren[parent(of: layer.prefix), default: []].append(layer.prefix) }
    var result: [String: Int] = [:]
    for layer in layers {
      var t = n
      var node = layer.prefix
      while !node.isEmpty {
        let p = parent(of: node)
        let rank = firstSeen[node] ?? Int.max
        for sibling in wrappedChildren[p] ?? [] where sibling != node && (firstSeen[sibling] ?? Int.max) < rank {
          t -= 1
        }
        node = p
      }
      result[layer.prefix] = t
    }
    return result
  }

  /// The module path above `path` (`""` at the top).
  static func parent(of path: String) -> String {
    guard let dot = path.lastIndex(of: ".") else { return "" }
    return String(path[..<dot])
  }
}
