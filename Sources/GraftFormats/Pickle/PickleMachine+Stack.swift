import GraftCore

extension PickleMachine {
  // MARK: - Stack

  mutating func push(_ v: PickleValue) throws(GraftError) {
    guard stack.count < limits.maxStack else {
      throw fail(.limitExceeded, "the pickle stack exceeds \(limits.maxStack) values")
    }
    stack.append(v)
  }

  mutating func pop() throws(GraftError) -> PickleValue {
    guard let v = stack.popLast(), stack.count >= (marks.last ?? 0) else {
      throw fail(.invalidHeader, "the pickle pops from an empty stack (or across a MARK)")
    }
    return v
  }

  func top() throws(GraftError) -> PickleValue {
    guard let v = stack.last, stack.count > (marks.last ?? 0) else {
      throw fail(.invalidHeader, "the pickle reads the top of an empty stack")
    }
    return v
  }

  mutating func popMark() throws(GraftError) -> [PickleValue] {
    guard let m = marks.popLast() else { throw fail(.invalidHeader, "the pickle uses a MARK that was never set") }
    let items = Array(stack[m...])
    stack.removeSubrange(m...)
    return items
  }

  mutating func makeNode(
    _ kind: PickleNode.Kind, items: [PickleValue] = [], callable: String = "",
    construction: String = ""
  ) throws(GraftError) -> PickleNode {
    guard nodes.count < limits.maxNodes else {
      throw fail(.limitExceeded, "the pickle creates more than \(limits.maxNodes) containers and objects")
    }
    let n = PickleNode(kind: kind, items: items, callable: callable, construction: construction)
    nodes.append(n)
    return n
  }

  mutating func memoize(_ index: Int, _ v: PickleValue) throws(GraftError) {
    guard index >= 0 else { throw fail(.invalidHeader, "negative memo index \(index)") }
    if memo[index] == nil && memo.count >= limits.maxMemo {
      throw fail(.limitExceeded, "the pickle memo exceeds \(limits.maxMemo) entries")
    }
    memo[index] = v
  }

  func recall(_ index: Int) throws(GraftError) -> PickleValue {
    guard let v = memo[index] else {
      throw fail(.invalidHeader, "the pickle reads memo entry \(index), which was never stored")
    }
    return v
  }

  mutating func noteGlobal(_ module: String, _ name: String) {
    let full = module + "." + name
    if seenGlobals.insert(full).inserted { globals.append(full) }
  }

  // MARK: - Calls

  mutating func call(
    _ callable: PickleValue, _ args: [PickleValue], _ how: String
  ) throws(GraftError)
    -> PickleValue
  {
    if let name = callable.globalName {
      if let v = try interpreter.call(name, args: args, at: opcodeOffset) {
        // Interpreters may build containers (an OrderedDict, a set); they join the graph for flat teardown.
        if case .node(let n) = v {
          guard nodes.count < limits.maxNodes else {
            throw fail(.limitExceeded, "the pickle creates more than \(limits.maxNodes) containers and objects")
          }
          nodes.append(n)
        }
        return v
      }
      return .node(try makeNode(.object, items: args, callable: name, construction: how))
    }
    // Calling a non-global (a memoised object, a partial) is recorded with the callable as its first item.
    return .node(try makeNode(.object, items: [callable] + args, callable: "<expression>", construction: how))
  }

  mutating func setItems(_ target: PickleValue, _ kv: [PickleValue]) throws(GraftError) {
    guard kv.count % 2 == 0 else { throw fail(.invalidHeader, "SETITEMS with an odd number of values") }
    guard let n = target.node, n.kind == .dict || n.kind == .object else {
      throw fail(.invalidHeader, "SETITEM(S) on \(target.summary), which is not a dict")
    }
    var i = 0
    while i < kv.count {
      let key = kv[i]
      // Dict semantics: a repeated key replaces the value but keeps its position.
      if let s = key.string {
        if let j = n.stringKeys[s] {
          n.pairs[j].value = kv[i + 1]
        } else {
          n.stringKeys[s] = n.pairs.count
          n.pairs.append((key, kv[i + 1]))
        }
      } else if case .int(let k) = key {
        if let j = n.intKeys[k] {
          n.pairs[j].value = kv[i + 1]
        } else {
          n.intKeys[k] = n.pairs.count
          n.pairs.append((key, kv[i + 1]))
        }
      } else {
        n.pairs.append((key, kv[i + 1]))
      }
      i += 2
    }
  }

  mutating func append(_ target: PickleValue, _ items: [PickleValue]) throws(GraftError) {
    guard let n = target.node else { throw fail(.invalidHeader, "APPEND(S) on \(target.summary)") }
    switch n.kind {
    case .list, .set: n.items += items
    case .object: n.appended += items
    default: throw fail(.invalidHeader, "APPEND(S) on a \(n.kind), which is not a list")
    }
  }
}
