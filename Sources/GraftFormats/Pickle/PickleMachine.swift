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
  let limits: PickleLimits
  let interpreter: any PickleInterpreter

  var reader: ByteReader
  var stack: [PickleValue] = []
  var marks: [Int] = []
  var memo: [Int: PickleValue] = [:]
  var nodes: [PickleNode] = []
  var globals: [String] = []
  var seenGlobals = Set<String>()
  var proto = 0
  /// Where the current opcode starts in `reader.bytes`: errors point at the opcode, not into its argument.
  var opOffset = 0

  /// Creates a machine over `bytes`, which start at `baseOffset` in `file`.
  public init(
    bytes: UnsafeRawBufferPointer, baseOffset: Int = 0, file: String? = nil, limits: PickleLimits = PickleLimits(),
    interpreter: any PickleInterpreter
  ) {
    self.reader = ByteReader(bytes, baseOffset: baseOffset, file: file)
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
    try m.reader.seek(to: position)
    do {
      let root = try m.execute()
      let cycles = try m.checkDepth(root)
      let graph = PickleGraph(root: root, globals: m.globals, proto: m.proto, hasCycles: cycles, nodes: m.nodes)
      return (graph, m.reader.position)
    } catch {
      // Flat teardown: a deep or cyclic graph must not recurse or leak on the way out.
      for n in m.nodes { n.clearChildren() }
      throw error
    }
  }

  // MARK: - Errors and input

  /// The absolute file offset of the current opcode.
  var opcodeOffset: Int { reader.baseOffset + opOffset }

  func fail(_ code: GraftError.Code, _ message: String, at offset: Int? = nil) -> GraftError {
    GraftError(code, message, file: reader.file, byteOffset: reader.baseOffset + (offset ?? opOffset))
  }

  /// Checks before every read so that a truncated stream is reported at its opcode, in the pickle's terms.
  func need(_ n: Int, _ what: String) throws(GraftError) {
    guard n >= 0, n <= reader.remaining else {
      throw fail(.truncated, "the pickle ends inside \(what): it needs \(n) bytes, \(reader.remaining) remain")
    }
  }

  mutating func u8() throws(GraftError) -> UInt8 {
    try need(1, "an opcode argument")
    return try reader.readByte()
  }

  mutating func le<T: FixedWidthInteger>(_ type: T.Type) throws(GraftError) -> T {
    try need(MemoryLayout<T>.size, "an integer argument")
    return try reader.readLittleEndian(T.self)
  }

  mutating func take(_ n: Int, _ what: String) throws(GraftError) -> UnsafeRawBufferPointer {
    guard n <= limits.maxPayloadBytes else {
      throw fail(.limitExceeded, "\(what) of \(n) bytes exceeds the \(limits.maxPayloadBytes)-byte payload cap")
    }
    try need(n, what)
    return try reader.readBytes(n)
  }

  mutating func length<T: FixedWidthInteger>(_ type: T.Type, _ what: String) throws(GraftError) -> Int {
    let raw = try le(T.self)
    guard let n = Int(exactly: raw), n >= 0 else {
      throw fail(.invalidHeader, "\(what) declares a negative or huge length \(raw)")
    }
    return n
  }

  mutating func line() throws(GraftError) -> String {
    guard let length = reader.distance(to: 0x0A) else {
      throw fail(.truncated, "the pickle ends inside a newline-terminated argument")
    }
    guard length <= limits.maxPayloadBytes else {
      throw fail(.limitExceeded, "a text argument exceeds the \(limits.maxPayloadBytes)-byte payload cap")
    }
    let text = latin1(try reader.readBytes(length))
    try reader.skip(1)
    return text
  }

  func latin1(_ raw: UnsafeRawBufferPointer) -> String {
    if raw.allSatisfy({ $0 < 0x80 }) { return String(decoding: raw, as: UTF8.self) }
    var s = String.UnicodeScalarView()
    for b in raw { s.append(Unicode.Scalar(b)) }
    return String(s)
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

  func utf8(_ raw: UnsafeRawBufferPointer) -> String { String(decoding: raw, as: UTF8.self) }

  func integer(from raw: UnsafeRawBufferPointer) -> PickleValue {
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

  func parseDecimal(_ text: String) throws(GraftError) -> PickleValue {
    guard let v = Int(text) else {
      throw fail(.unsupported, "decimal integer '\(text.prefix(40))' does not fit in 64 bits")
    }
    return .int(v)
  }
}
