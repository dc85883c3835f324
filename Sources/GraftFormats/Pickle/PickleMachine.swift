public import GraftCore

/// Gives meaning to the globals, calls and persistent ids of a pickle without ever executing anything.
///
/// The machine asks the interpreter about every call (`REDUCE`, `NEWOBJ`, `NEWOBJ_EX`, `INST`, `OBJ`) of a global;
/// the interpreter returns a value for the few callables it knows (tensor rebuilds, `OrderedDict`, `_codecs.encode`)
/// and `nil` for everything else, which the machine then records as an inert ``PickleNode`` of kind `.object`.
public protocol PickleInterpreter: AnyObject {
  /// Interprets a call of the global `callable`; `nil` means "keep it symbolic".
  func call(_ callable: String, args: [PickleValue], at offset: Int) throws(GraftError) -> PickleValue?
  /// Applies BUILD state to an external value; returns whether it was handled.
  func build(_ target: any PickleExternal, state: PickleValue, at offset: Int) throws(GraftError) -> Bool
  /// Resolves a persistent id (`BINPERSID`/`PERSID`).
  func persistentLoad(_ pid: PickleValue, at offset: Int) throws(GraftError) -> PickleValue
}

/// Resource caps of the pickle machine.
///
/// Every one produces a `limitExceeded` error naming the cap.
public struct PickleLimits: Sendable {
  /// The deepest container nesting (anamnesis uses 256; torch state dicts need fewer than 10).
  public var maxDepth = 256
  /// The most values on the stack at once.
  public var maxStack = 1 << 22
  /// The most memo entries.
  public var maxMemo = 1 << 22
  /// The most containers and objects created.
  public var maxNodes = 1 << 23
  /// The longest single string or bytes payload.
  public var maxPayloadBytes = 64 << 20
  /// Creates the default limits.
  public init() {}
}

/// A non-executing pickle virtual machine for protocols 0–5.
///
/// It implements every opcode CPython's pickle module emits (memo, frames, extensions, out-of-band buffers are
/// rejected) and evaluates the stream into ``PickleValue``s. Globals are names, never imports; calls are handed to
/// a ``PickleInterpreter`` or kept as symbolic nodes.
public struct PickleMachine {
  private let bytes: UnsafeRawBufferPointer
  private let baseOffset: Int
  private let file: String?
  private let limits: PickleLimits
  private let interpreter: any PickleInterpreter

  private var pos = 0
  private var stack: [PickleValue] = []
  private var marks: [Int] = []
  private var memo: [Int: PickleValue] = [:]
  private var nodes: [PickleNode] = []
  private var globals: [String] = []
  private var seenGlobals = Set<String>()
  private var proto = 0
  private var opOffset = 0

  /// Creates a machine over `bytes`, which start at `baseOffset` in `file`.
  public init(
    bytes: UnsafeRawBufferPointer, baseOffset: Int = 0, file: String? = nil, limits: PickleLimits = PickleLimits(),
    interpreter: any PickleInterpreter
  ) {
    self.bytes = bytes
    self.baseOffset = baseOffset
    self.file = file
    self.limits = limits
    self.interpreter = interpreter
  }

  /// Runs one pickle starting at `position` (relative to `bytes`); returns the object graph and the position just
  /// after its STOP opcode.
  public static func run(
    _ bytes: UnsafeRawBufferPointer, from position: Int = 0, baseOffset: Int = 0, file: String? = nil,
    limits: PickleLimits = PickleLimits(), interpreter: any PickleInterpreter
  ) throws(GraftError) -> (graph: PickleGraph, end: Int) {
    var m = PickleMachine(
      bytes: bytes, baseOffset: baseOffset, file: file, limits: limits, interpreter: interpreter)
    m.pos = position
    do {
      let root = try m.execute()
      let cycles = try m.checkDepth(root)
      let graph = PickleGraph(root: root, globals: m.globals, proto: m.proto, hasCycles: cycles, nodes: m.nodes)
      return (graph, m.pos)
    } catch {
      // Flat teardown: a deep or cyclic graph must not recurse or leak on the way out.
      for n in m.nodes { n.clearChildren() }
      throw error
    }
  }

  // MARK: - Errors and input

  private func fail(_ code: GraftError.Code, _ message: String, at offset: Int? = nil) -> GraftError {
    GraftError(code, message, file: file, byteOffset: baseOffset + (offset ?? opOffset))
  }

  private mutating func need(_ n: Int, _ what: String) throws(GraftError) {
    guard n >= 0, n <= bytes.count - pos else {
      throw fail(.truncated, "the pickle ends inside \(what): it needs \(n) bytes, \(bytes.count - pos) remain")
    }
  }

  private mutating func u8() throws(GraftError) -> UInt8 {
    try need(1, "an opcode argument")
    defer { pos += 1 }
    return bytes[pos]
  }

  private mutating func le<T: FixedWidthInteger>(_ type: T.Type) throws(GraftError) -> T {
    try need(MemoryLayout<T>.size, "an integer argument")
    defer { pos += MemoryLayout<T>.size }
    return T(littleEndian: bytes.loadUnaligned(fromByteOffset: pos, as: T.self))
  }

  private mutating func take(_ n: Int, _ what: String) throws(GraftError) -> UnsafeRawBufferPointer {
    guard n <= limits.maxPayloadBytes else {
      throw fail(.limitExceeded, "\(what) of \(n) bytes exceeds the \(limits.maxPayloadBytes)-byte payload cap")
    }
    try need(n, what)
    defer { pos += n }
    return UnsafeRawBufferPointer(rebasing: bytes[pos..<(pos + n)])
  }

  private mutating func length<T: FixedWidthInteger>(_ type: T.Type, _ what: String) throws(GraftError) -> Int {
    let raw = try le(T.self)
    guard let n = Int(exactly: raw), n >= 0 else {
      throw fail(.invalidHeader, "\(what) declares a negative or huge length \(raw)")
    }
    return n
  }

  private mutating func line() throws(GraftError) -> String {
    var end = pos
    while end < bytes.count && bytes[end] != 0x0A { end += 1 }
    guard end < bytes.count else { throw fail(.truncated, "the pickle ends inside a newline-terminated argument") }
    guard end - pos <= limits.maxPayloadBytes else {
      throw fail(.limitExceeded, "a text argument exceeds the \(limits.maxPayloadBytes)-byte payload cap")
    }
    let text = latin1(UnsafeRawBufferPointer(rebasing: bytes[pos..<end]))
    pos = end + 1
    return text
  }

  private func latin1(_ raw: UnsafeRawBufferPointer) -> String {
    if raw.allSatisfy({ $0 < 0x80 }) { return String(decoding: raw, as: UTF8.self) }
    var s = String.UnicodeScalarView()
    for b in raw { s.append(Unicode.Scalar(b)) }
    return String(s)
  }

  // MARK: - Stack

  private mutating func push(_ v: PickleValue) throws(GraftError) {
    guard stack.count < limits.maxStack else {
      throw fail(.limitExceeded, "the pickle stack exceeds \(limits.maxStack) values")
    }
    stack.append(v)
  }

  private mutating func pop() throws(GraftError) -> PickleValue {
    guard let v = stack.popLast(), stack.count >= (marks.last ?? 0) else {
      throw fail(.invalidHeader, "the pickle pops from an empty stack (or across a MARK)")
    }
    return v
  }

  private func top() throws(GraftError) -> PickleValue {
    guard let v = stack.last, stack.count > (marks.last ?? 0) else {
      throw fail(.invalidHeader, "the pickle reads the top of an empty stack")
    }
    return v
  }

  private mutating func popMark() throws(GraftError) -> [PickleValue] {
    guard let m = marks.popLast() else { throw fail(.invalidHeader, "the pickle uses a MARK that was never set") }
    let items = Array(stack[m...])
    stack.removeSubrange(m...)
    return items
  }

  private mutating func makeNode(
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

  private mutating func memoize(_ index: Int, _ v: PickleValue) throws(GraftError) {
    guard index >= 0 else { throw fail(.invalidHeader, "negative memo index \(index)") }
    if memo[index] == nil && memo.count >= limits.maxMemo {
      throw fail(.limitExceeded, "the pickle memo exceeds \(limits.maxMemo) entries")
    }
    memo[index] = v
  }

  private func recall(_ index: Int) throws(GraftError) -> PickleValue {
    guard let v = memo[index] else {
      throw fail(.invalidHeader, "the pickle reads memo entry \(index), which was never stored")
    }
    return v
  }

  private mutating func noteGlobal(_ module: String, _ name: String) {
    let full = module + "." + name
    if seenGlobals.insert(full).inserted { globals.append(full) }
  }

  // MARK: - Calls

  private mutating func call(
    _ callable: PickleValue, _ args: [PickleValue], _ how: String
  ) throws(GraftError)
    -> PickleValue
  {
    if let name = callable.globalName {
      if let v = try interpreter.call(name, args: args, at: baseOffset + opOffset) {
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

  private mutating func setItems(_ target: PickleValue, _ kv: [PickleValue]) throws(GraftError) {
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

  private mutating func append(_ target: PickleValue, _ items: [PickleValue]) throws(GraftError) {
    guard let n = target.node else { throw fail(.invalidHeader, "APPEND(S) on \(target.summary)") }
    switch n.kind {
    case .list, .set: n.items += items
    case .object: n.appended += items
    default: throw fail(.invalidHeader, "APPEND(S) on a \(n.kind), which is not a list")
    }
  }

  // MARK: - The loop

  private mutating func execute() throws(GraftError) -> PickleValue {
    while true {
      opOffset = pos
      let op = try u8()
      switch op {
      case 0x80:  // PROTO
        proto = Int(try u8())
        guard proto <= 5 else { throw fail(.unsupported, "pickle protocol \(proto) is newer than 5") }
      case 0x95:  // FRAME: a length hint only; the opcodes inside are read normally.
        _ = try le(UInt64.self)
      case 0x2E:  // STOP
        let v = try pop()
        guard stack.isEmpty, marks.isEmpty else {
          throw fail(.invalidHeader, "STOP with \(stack.count) values and \(marks.count) marks left over")
        }
        return v
      case 0x28:  // MARK
        guard marks.count < limits.maxDepth else {
          throw fail(.limitExceeded, "MARKs nest deeper than \(limits.maxDepth)")
        }
        marks.append(stack.count)
      case 0x30: _ = try pop()  // POP
      case 0x31: _ = try popMark()  // POP_MARK
      case 0x32: try push(try top())  // DUP

      // Constants and numbers.
      case 0x4E: try push(.none)
      case 0x88: try push(.bool(true))
      case 0x89: try push(.bool(false))
      case 0x4A: try push(.int(Int(try le(Int32.self))))  // BININT
      case 0x4B: try push(.int(Int(try u8())))  // BININT1
      case 0x4D: try push(.int(Int(try le(UInt16.self))))  // BININT2
      case 0x8A:  // LONG1
        let n = Int(try u8())
        try push(integer(from: try take(n, "a LONG1")))
      case 0x8B:  // LONG4
        let n = try length(Int32.self, "LONG4")
        try push(integer(from: try take(n, "a LONG4")))
      case 0x49:  // INT (also True/False as I01/I00)
        let text = try line()
        if text == "01" {
          try push(.bool(true))
        } else if text == "00" {
          try push(.bool(false))
        } else {
          try push(try parseDecimal(text))
        }
      case 0x4C:  // LONG
        var text = try line()
        if text.hasSuffix("L") { text.removeLast() }
        try push(try parseDecimal(text))
      case 0x47:  // BINFLOAT (big-endian)
        try need(8, "a BINFLOAT")
        let raw = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: pos, as: UInt64.self))
        pos += 8
        try push(.float(Double(bitPattern: raw)))
      case 0x46:  // FLOAT
        let text = try line()
        guard let d = Double(text) else { throw fail(.invalidHeader, "FLOAT argument '\(text)' is not a number") }
        try push(.float(d))

      // Strings and bytes.
      case 0x58: try push(.string(utf8(try take(try length(UInt32.self, "BINUNICODE"), "a BINUNICODE"))))
      case 0x8C: try push(.string(utf8(try take(Int(try u8()), "a SHORT_BINUNICODE"))))
      case 0x8D: try push(.string(utf8(try take(try length(UInt64.self, "BINUNICODE8"), "a BINUNICODE8"))))
      case 0x56:  // UNICODE (raw-unicode-escape; \uXXXX escapes are kept as text)
        try push(.string(try line()))
      case 0x54: try push(.string(latin1(try take(try length(Int32.self, "BINSTRING"), "a BINSTRING"))))
      case 0x55: try push(.string(latin1(try take(Int(try u8()), "a SHORT_BINSTRING"))))
      case 0x53:  // STRING: a quoted repr
        var text = try line()
        if text.count >= 2, let f = text.first, f == "'" || f == "\"", text.last == f {
          text = String(text.dropFirst().dropLast())
        }
        try push(.string(text))
      case 0x42: try push(.bytes(Array(try take(try length(UInt32.self, "BINBYTES"), "a BINBYTES"))))
      case 0x43: try push(.bytes(Array(try take(Int(try u8()), "a SHORT_BINBYTES"))))
      case 0x8E: try push(.bytes(Array(try take(try length(UInt64.self, "BINBYTES8"), "a BINBYTES8"))))
      case 0x96: try push(.bytes(Array(try take(try length(UInt64.self, "BYTEARRAY8"), "a BYTEARRAY8"))))
      case 0x97, 0x98:
        throw fail(
          .unsupported, "out-of-band pickle buffers (protocol 5 NEXT_BUFFER/READONLY_BUFFER) are not supported")

      // Containers.
      case 0x29: try push(.node(try makeNode(.tuple)))  // EMPTY_TUPLE
      case 0x85: try push(.node(try makeNode(.tuple, items: [try pop()])))
      case 0x86:
        let b = try pop()
        let a = try pop()
        try push(.node(try makeNode(.tuple, items: [a, b])))
      case 0x87:
        let c = try pop()
        let b = try pop()
        let a = try pop()
        try push(.node(try makeNode(.tuple, items: [a, b, c])))
      case 0x74: try push(.node(try makeNode(.tuple, items: try popMark())))  // TUPLE
      case 0x5D: try push(.node(try makeNode(.list)))  // EMPTY_LIST
      case 0x6C: try push(.node(try makeNode(.list, items: try popMark())))  // LIST
      case 0x7D: try push(.node(try makeNode(.dict)))  // EMPTY_DICT
      case 0x64:  // DICT
        let kv = try popMark()
        let d = try makeNode(.dict)
        try setItems(.node(d), kv)
        try push(.node(d))
      case 0x8F: try push(.node(try makeNode(.set)))  // EMPTY_SET
      case 0x91: try push(.node(try makeNode(.set, items: try popMark())))  // FROZENSET
      case 0x90:  // ADDITEMS
        let items = try popMark()
        try append(try top(), items)
      case 0x61:  // APPEND
        let v = try pop()
        try append(try top(), [v])
      case 0x65:  // APPENDS
        let items = try popMark()
        try append(try top(), items)
      case 0x73:  // SETITEM
        let v = try pop()
        let k = try pop()
        try setItems(try top(), [k, v])
      case 0x75:  // SETITEMS
        let kv = try popMark()
        try setItems(try top(), kv)

      // Memo.
      case 0x71: try memoize(Int(try u8()), try top())  // BINPUT
      case 0x72: try memoize(Int(try le(UInt32.self)), try top())  // LONG_BINPUT
      case 0x94: try memoize(memo.count, try top())  // MEMOIZE
      case 0x70:  // PUT
        let text = try line()
        guard let i = Int(text) else { throw fail(.invalidHeader, "PUT argument '\(text)' is not an integer") }
        try memoize(i, try top())
      case 0x68: try push(try recall(Int(try u8())))  // BINGET
      case 0x6A: try push(try recall(Int(try le(UInt32.self))))  // LONG_BINGET
      case 0x67:  // GET
        let text = try line()
        guard let i = Int(text) else { throw fail(.invalidHeader, "GET argument '\(text)' is not an integer") }
        try push(try recall(i))

      // Globals, calls, objects.
      case 0x63:  // GLOBAL
        let (module, name) = PickleMachine.python3Name(try line(), try line(), proto: proto)
        noteGlobal(module, name)
        try push(.global(module: module, name: name))
      case 0x93:  // STACK_GLOBAL
        let name = try pop()
        let module = try pop()
        guard let m = module.string, let n = name.string else {
          throw fail(.invalidHeader, "STACK_GLOBAL needs two strings, got \(module.summary) and \(name.summary)")
        }
        noteGlobal(m, n)
        try push(.global(module: m, name: n))
      case 0x82, 0x83, 0x84:  // EXT1, EXT2, EXT4: the copyreg extension registry is empty in practice.
        let code =
          op == 0x82 ? Int(try u8()) : (op == 0x83 ? Int(try le(UInt16.self)) : Int(try le(Int32.self)))
        noteGlobal("copyreg", "extension_\(code)")
        try push(.global(module: "copyreg", name: "extension_\(code)"))
      case 0x52:  // REDUCE
        let args = try pop()
        let callable = try pop()
        guard let a = args.sequence else {
          throw fail(.invalidHeader, "REDUCE arguments must be a tuple, got \(args.summary)")
        }
        try push(try call(callable, a, "REDUCE"))
      case 0x81:  // NEWOBJ
        let args = try pop()
        let cls = try pop()
        guard let a = args.sequence else { throw fail(.invalidHeader, "NEWOBJ arguments must be a tuple") }
        try push(try call(cls, a, "NEWOBJ"))
      case 0x92:  // NEWOBJ_EX
        let kwargs = try pop()
        let args = try pop()
        let cls = try pop()
        guard let a = args.sequence else { throw fail(.invalidHeader, "NEWOBJ_EX arguments must be a tuple") }
        let v = try call(cls, a, "NEWOBJ_EX")
        if let n = v.node, n.kind == .object, let kw = kwargs.node { n.pairs += kw.pairs }
        try push(v)
      case 0x69:  // INST
        let (module, name) = PickleMachine.python3Name(try line(), try line(), proto: proto)
        noteGlobal(module, name)
        let args = try popMark()
        try push(try call(.global(module: module, name: name), args, "INST"))
      case 0x6F:  // OBJ
        var args = try popMark()
        guard !args.isEmpty else { throw fail(.invalidHeader, "OBJ without a class") }
        let cls = args.removeFirst()
        try push(try call(cls, args, "OBJ"))
      case 0x62:  // BUILD
        let state = try pop()
        let target = try top()
        switch target {
        case .external(let e):
          if try !interpreter.build(e, state: state, at: baseOffset + opOffset) {
            throw fail(.invalidHeader, "BUILD on \(e.summary), which takes no state")
          }
        case .node(let n):
          n.state = state
        default:
          throw fail(.invalidHeader, "BUILD on \(target.summary)")
        }
      case 0x51:  // BINPERSID
        let pid = try pop()
        try push(try interpreter.persistentLoad(pid, at: baseOffset + opOffset))
      case 0x50:  // PERSID
        let pid = try line()
        try push(try interpreter.persistentLoad(.string(pid), at: baseOffset + opOffset))
      default:
        throw fail(.invalidHeader, "unknown pickle opcode 0x\(String(op, radix: 16))")
      }
    }
  }

  /// Python 2 module names as CPython's unpickler maps them (`fix_imports`, protocols below 3), so that
  /// `__builtin__.eval` is reported as `builtins.eval`.
  static func python3Name(_ module: String, _ name: String, proto: Int) -> (String, String) {
    guard proto < 3 else { return (module, name) }
    let modules: [String: String] = [
      "__builtin__": "builtins", "copy_reg": "copyreg", "commands": "subprocess", "cPickle": "pickle",
      "UserDict": "collections", "UserList": "collections", "exceptions": "builtins", "Queue": "queue",
      "cStringIO": "io", "StringIO": "io", "urllib2": "urllib.request", "thread": "_thread",
    ]
    return (modules[module] ?? module, name)
  }

  private func utf8(_ raw: UnsafeRawBufferPointer) -> String { String(decoding: raw, as: UTF8.self) }

  private func integer(from raw: UnsafeRawBufferPointer) -> PickleValue {
    if raw.isEmpty { return .int(0) }
    if raw.count <= 8 {
      var v: UInt64 = 0
      for (i, b) in raw.enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
      let shift = UInt64(64 - 8 * raw.count)
      // Sign-extend from the top byte.
      let signed = raw.count == 8 ? Int64(bitPattern: v) : Int64(bitPattern: v << shift) >> Int64(shift)
      return .int(Int(signed))
    }
    return .bigInt(Array(raw))
  }

  private func parseDecimal(_ text: String) throws(GraftError) -> PickleValue {
    guard let v = Int(text) else {
      throw fail(.unsupported, "decimal integer '\(text.prefix(40))' does not fit in 64 bits")
    }
    return .int(v)
  }

  // MARK: - Depth

  /// Computes the true nesting depth without recursion (nodes can be mutated after being nested, so depths
  /// recorded at construction would be stale); returns whether a cycle was found.
  private func checkDepth(_ root: PickleValue) throws(GraftError) -> Bool {
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
          throw fail(.limitExceeded, "containers nest deeper than \(limits.maxDepth) levels", at: pos - 1)
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
