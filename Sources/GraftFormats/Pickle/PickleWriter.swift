/// Emits pickle protocol 2 opcodes, memoising strings and globals the way CPython's pickler does.
///
/// Only what `torch.save` needs is offered: globals, calls, tuples, dicts, strings, ints, booleans and
/// persistent ids. The output is deterministic: the same calls always produce the same bytes.
public struct PickleWriter {
  /// The bytes written so far.
  public private(set) var bytes: [UInt8] = [PickleOpcode.proto.rawValue, 2]
  private var memoCount = 0
  private var strings: [String: Int] = [:]
  private var globals: [String: Int] = [:]

  /// Starts a protocol-2 pickle.
  public init() {}

  /// Stores the top of the stack in the next memo slot and returns the slot.
  @discardableResult
  public mutating func put() -> Int {
    let index = memoCount
    memoCount += 1
    if index < 256 {
      emit(.binPut, UInt8(index))
    } else {
      emit(.longBinPut)
      appendU32(UInt32(index))
    }
    return index
  }

  /// Pushes a memoised value.
  public mutating func get(_ index: Int) {
    if index < 256 {
      emit(.binGet, UInt8(index))
    } else {
      emit(.longBinGet)
      appendU32(UInt32(index))
    }
  }

  private mutating func emit(_ op: PickleOpcode, _ argument: UInt8...) {
    bytes.append(op.rawValue)
    bytes += argument
  }

  private mutating func appendU32(_ v: UInt32) {
    withUnsafeBytes(of: v.littleEndian) { bytes += $0 }
  }

  /// Pushes `module.name` (memoised).
  public mutating func global(_ module: String, _ name: String) {
    let key = module + "\n" + name
    if let m = globals[key] {
      get(m)
      return
    }
    emit(.global)
    bytes += Array(module.utf8) + [0x0A] + Array(name.utf8) + [0x0A]
    globals[key] = put()
  }

  /// Pushes a string (memoised).
  public mutating func string(_ s: String) {
    if let m = strings[s] {
      get(m)
      return
    }
    let utf8 = Array(s.utf8)
    emit(.binUnicode)
    appendU32(UInt32(utf8.count))
    bytes += utf8
    strings[s] = put()
  }

  /// Pushes an integer with the shortest opcode.
  public mutating func int(_ v: Int) {
    if v >= 0 && v < 256 {
      emit(.binInt1, UInt8(v))
    } else if v >= 0 && v < 65536 {
      emit(.binInt2)
      withUnsafeBytes(of: UInt16(v).littleEndian) { bytes += $0 }
    } else if let small = Int32(exactly: v) {
      emit(.binInt)
      withUnsafeBytes(of: small.littleEndian) { bytes += $0 }
    } else {
      // LONG1 with the minimal two's-complement length, as CPython's encode_long does.
      var raw: [UInt8] = []
      withUnsafeBytes(of: Int64(v).littleEndian) { raw += $0 }
      while raw.count > 1 {
        let top = raw[raw.count - 1]
        let next = raw[raw.count - 2]
        if (top == 0 && next & 0x80 == 0) || (top == 0xFF && next & 0x80 != 0) { raw.removeLast() } else { break }
      }
      emit(.long1, UInt8(raw.count))
      bytes += raw
    }
  }

  /// Pushes `True` or `False`.
  public mutating func bool(_ b: Bool) { emit(b ? .newTrue : .newFalse) }

  /// Pushes a MARK.
  public mutating func mark() { emit(.mark) }

  /// Builds a tuple from the values pushed since the last MARK (memoised).
  public mutating func tupleFromMark() {
    emit(.tuple)
    put()
  }

  /// Pushes a tuple of integers (memoised unless empty).
  public mutating func intTuple(_ values: [Int]) {
    switch values.count {
    case 0:
      emit(.emptyTuple)
      return
    case 1...3:
      for v in values { int(v) }
      emit([.tuple1, .tuple2, .tuple3][values.count - 1])
    default:
      mark()
      for v in values { int(v) }
      emit(.tuple)
    }
    put()
  }

  /// Pushes an empty tuple.
  public mutating func emptyTuple() { emit(.emptyTuple) }
  /// Pushes an empty dict (memoised).
  public mutating func emptyDict() {
    emit(.emptyDict)
    put()
  }
  /// Calls the callable below the argument tuple on the stack; returns the memo slot of the result.
  @discardableResult
  public mutating func reduce() -> Int {
    emit(.reduce)
    return put()
  }
  /// Replaces the persistent id on the stack by what the loader makes of it.
  public mutating func persistentID() { emit(.binPersID) }
  /// Adds the key/value pairs pushed since the last MARK to the dict below the MARK.
  public mutating func setItems() { emit(.setItems) }
  /// Adds one key/value pair to the dict below them.
  public mutating func setItem() { emit(.setItem) }
  /// Ends the pickle.
  public mutating func stop() { emit(.stop) }
}
