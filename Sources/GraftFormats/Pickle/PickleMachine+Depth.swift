import GraftCore

extension PickleMachine {
  // MARK: - Depth

  /// Computes the true nesting depth without recursion (nodes can be mutated after being nested, so depths
  /// recorded at construction would be stale); returns whether a cycle was found.
  func checkDepth(_ root: PickleValue) throws(GraftError) -> Bool {
    guard case .node(let rootNode) = root else { return false }
    var height: [ObjectIdentifier: Int] = [:]
    var onPath = Set<ObjectIdentifier>()
    var cycles = false
    var work: [(node: PickleNode, children: [PickleNode], next: Int)] = []
    func childNodes(_ n: PickleNode) -> [PickleNode] {
      var out: [PickleNode] = []
      n.forEachChild { if case .node(let c) = $0 { out.append(c) } }
      return out
    }
    work.append((rootNode, childNodes(rootNode), 0))
    onPath.insert(ObjectIdentifier(rootNode))
    while let last = work.last {
      let i = work.count - 1
      if last.next < last.children.count {
        let child = last.children[last.next]
        work[i].next += 1
        let id = ObjectIdentifier(child)
        if onPath.contains(id) {
          cycles = true
          continue
        }
        let below = height[id] ?? 1
        guard work.count + below <= limits.maxDepth else {
          throw fail(.limitExceeded, "containers nest deeper than \(limits.maxDepth) levels", at: reader.position - 1)
        }
        if height[id] != nil { continue }
        onPath.insert(id)
        work.append((child, childNodes(child), 0))
      } else {
        var h = 1
        for c in last.children { h = max(h, 1 + (height[ObjectIdentifier(c)] ?? 0)) }
        height[ObjectIdentifier(last.node)] = h
        onPath.remove(ObjectIdentifier(last.node))
        work.removeLast()
      }
    }
    return cycles
  }
}
