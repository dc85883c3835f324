/// A value produced by the symbolic pickle machine.
///
/// Scalars are values; containers and symbolic objects are ``PickleNode`` references, because pickle mutates
/// containers after they are memoised (APPEND, SETITEMS, BUILD) and every reference must see the change.
public enum PickleValue {
  /// `None`.
  case none
  /// `True` or `False`.
  case bool(Bool)
  /// An integer that fits in `Int`.
  case int(Int)
  /// An integer beyond `Int`, as little-endian two's-complement bytes.
  case bigInt([UInt8])
  /// A float.
  case float(Double)
  /// A `str` (py2 byte strings are decoded as Latin-1, which is lossless).
  case string(String)
  /// A `bytes` or `bytearray`.
  case bytes([UInt8])
  /// A global reference `module.name`, never resolved to anything executable.
  case global(module: String, name: String)
  /// A tuple, list, set, dict or symbolic object.
  case node(PickleNode)
  /// A value understood by an interpreter (a tensor, a storage, a dtype).
  case external(any PickleExternal)

  /// The node, if this is one.
  public var node: PickleNode? { if case .node(let n) = self { return n } else { return nil } }
  /// The string, if this is one.
  public var string: String? { if case .string(let s) = self { return s } else { return nil } }
  /// The integer, if this is one (booleans count, as in Python).
  public var int: Int? {
    switch self {
    case .int(let v): return v
    case .bool(let b): return b ? 1 : 0
    default: return nil
    }
  }
  /// The items of a tuple or list node.
  public var sequence: [PickleValue]? {
    guard let n = node, n.kind == .tuple || n.kind == .list else { return nil }
    return n.items
  }
  /// `module.name` for a global.
  public var globalName: String? {
    if case .global(let m, let n) = self { return m + "." + n } else { return nil }
  }

  /// A short rendering for trees and error messages (containers are summarised, not expanded).
  public var summary: String {
    switch self {
    case .none: return "None"
    case .bool(let b): return b ? "True" : "False"
    case .int(let v): return String(v)
    case .bigInt(let b): return "int(\(b.count * 8) bits)"
    case .float(let d): return String(d)
    case .string(let s):
      let short = s.count > 60 ? String(s.prefix(57)) + "..." : s
      return "'" + short + "'"
    case .bytes(let b): return "bytes(\(b.count))"
    case .global(let m, let n): return "<global \(m).\(n)>"
    case .node(let n): return n.summary
    case .external(let e): return e.summary
    }
  }
}

/// A value an interpreter recognised (a tensor, a storage, a dtype) and keeps opaque to the machine.
public protocol PickleExternal: AnyObject {
  /// A short rendering such as `tensor F32 [768, 768]`.
  var summary: String { get }
}

/// A container or a symbolic object built by the pickle machine.
public final class PickleNode {
  /// What the node stands for.
  public enum Kind: Equatable, Sendable {
    /// A tuple.
    case tuple
    /// A list.
    case list
    /// A set or frozenset.
    case set
    /// A dict or `collections.OrderedDict`.
    case dict
    /// An object of a class or the result of a call the machine did not perform.
    case object
  }

  /// What the node stands for.
  public let kind: Kind
  /// Tuple, list or set items; for an object, the constructor's arguments.
  public var items: [PickleValue]
  /// Dict entries in insertion order; for an object, items set with SETITEM(S).
  public var pairs: [(key: PickleValue, value: PickleValue)] = []
  /// Positions in ``pairs`` of string and integer keys, so SETITEMS stays linear for huge state dicts.
  var stringKeys: [String: Int] = [:]
  var intKeys: [Int: Int] = [:]
  /// Items appended to an object (list subclasses).
  public var appended: [PickleValue] = []
  /// For an object, the callable or class as `module.name` (or `<expression>` when it was not a global).
  public var callable: String
  /// For an object, how it was made: `REDUCE`, `NEWOBJ`, `INST`, `OBJ`.
  public var construction: String
  /// The state given by BUILD, if any.
  public var state: PickleValue?

  /// Creates a node.
  public init(kind: Kind, items: [PickleValue] = [], callable: String = "", construction: String = "") {
    self.kind = kind
    self.items = items
    self.callable = callable
    self.construction = construction
  }

  /// Looks up a dict entry by string key.
  public subscript(key: String) -> PickleValue? {
    pairs.last(where: { $0.key.string == key })?.value
  }

  /// A short rendering.
  public var summary: String {
    switch kind {
    case .tuple: return "tuple(\(items.count))"
    case .list: return "list(\(items.count))"
    case .set: return "set(\(items.count))"
    case .dict: return callable.isEmpty ? "dict(\(pairs.count))" : "\(callable)(\(pairs.count))"
    case .object: return "<\(callable)>"
    }
  }

  /// Calls `body` with every child value (items, dict keys and values, appended items, state).
  public func forEachChild(_ body: (PickleValue) throws -> Void) rethrows {
    for v in items { try body(v) }
    for (k, v) in pairs {
      try body(k)
      try body(v)
    }
    for v in appended { try body(v) }
    if let state { try body(state) }
  }

  /// Drops every child reference, so that tearing a graph down never recurses deeply or leaks cycles.
  func clearChildren() {
    items = []
    pairs = []
    stringKeys = [:]
    intKeys = [:]
    appended = []
    state = nil
  }
}

/// Every node a pickle produced, owned together so teardown is flat.
///
/// Pickles can build cyclic graphs (a list appended to itself) and arbitrarily deep chains; ARC would leak the
/// former and recurse on the latter. The graph clears every node's children when it goes away.
///
/// - Important: Keep the graph alive while using values from it; once it is released its containers are empty.
public final class PickleGraph {
  /// The unpickled object.
  public let root: PickleValue
  /// The globals the stream referenced, in order of first appearance.
  public let globals: [String]
  /// The pickle protocol the stream declared (0 or 1 when no PROTO opcode).
  public let proto: Int
  /// Whether some container contains itself.
  public let hasCycles: Bool
  private let nodes: [PickleNode]

  init(root: PickleValue, globals: [String], proto: Int, hasCycles: Bool, nodes: [PickleNode]) {
    self.root = root
    self.globals = globals
    self.proto = proto
    self.hasCycles = hasCycles
    self.nodes = nodes
  }

  deinit {
    for n in nodes { n.clearChildren() }
  }
}
