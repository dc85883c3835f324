public import GraftCore

extension PyTorchArchive {
  /// The object tree of ``treeDescription(maxDepth:)`` as data, for `graft inspect --json`.
  ///
  /// A container is `{"type", "tensors", "entries": {label: child}}` (`type` is `dict`, `list`, `tuple`, `set`, or
  /// the class of an object, such as `collections.OrderedDict`); a tensor is `{"tensor": {"dtype", "shape"}}`; a
  /// scalar is its JSON value; anything else is `{"value": <summary>}`. Containers deeper than `maxDepth` keep only
  /// their tensor count, and a branch met again (a cycle) is `{"repeated": true}`.
  public func treeJSON(maxDepth: Int) -> JSONValue {
    let counter = Counter()
    var visiting = Set<ObjectIdentifier>()
    func value(_ v: PickleValue, depth: Int) -> JSONValue {
      if case .external(let e) = v, let t = e as? TorchTensorRef {
        return ["tensor": ["dtype": .string(t.dtype.rawValue), "shape": .array(t.shape.map(JSONValue.integer))]]
      }
      if let scalar = PyTorchArchive.scalarJSON(v) { return scalar }
      guard case .node(let n) = v else { return ["value": .string(v.summary)] }
      let id = ObjectIdentifier(n)
      guard visiting.insert(id).inserted else { return ["repeated": true] }
      defer { visiting.remove(id) }
      var o = JSONObject()
      switch n.kind {
      case .tuple: o["type"] = "tuple"
      case .list: o["type"] = "list"
      case .set: o["type"] = "set"
      case .dict: o["type"] = .string(n.callable.isEmpty ? "dict" : n.callable)
      case .object: o["type"] = .string(n.callable)
      }
      o["tensors"] = .integer(counter.count(v))
      guard depth < maxDepth else { return .object(o) }
      var entries = JSONObject()
      for (label, child) in PyTorchArchive.children(of: v) { entries[label] = value(child, depth: depth + 1) }
      o["entries"] = .object(entries)
      return .object(o)
    }
    return value(root, depth: 0)
  }

  /// Which state dicts the file holds, as data: `[{"path", "tensors"}]` (the root is the empty path).
  public var stateDictCandidatesJSON: JSONValue {
    .array(stateDictCandidates.map { ["path": .string($0.path), "tensors": .integer($0.tensorCount)] })
  }
}
