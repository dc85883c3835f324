import GraftCore

extension PickleMachine {
  // MARK: - The loop

  /// Runs opcodes until STOP and returns what STOP pops.
  mutating func execute() throws(GraftError) -> PickleValue {
    while true {
      opOffset = reader.position
      let byte = try u8()
      guard let op = PickleOpcode(rawValue: byte) else {
        throw fail(.invalidHeader, "unknown pickle opcode 0x\(String(byte, radix: 16))")
      }
      switch op {
      case .proto:
        proto = Int(try u8())
        guard proto <= 5 else { throw fail(.unsupported, "pickle protocol \(proto) is newer than 5") }
      case .frame:  // A length hint only; the opcodes inside are read normally.
        _ = try le(UInt64.self)
      case .stop:
        let v = try pop()
        guard stack.isEmpty, marks.isEmpty else {
          throw fail(.invalidHeader, "STOP with \(stack.count) values and \(marks.count) marks left over")
        }
        return v
      case .mark:
        guard marks.count < limits.maxDepth else {
          throw fail(.limitExceeded, "MARKs nest deeper than \(limits.maxDepth)")
        }
        marks.append(stack.count)
      case .pop: _ = try pop()
      case .popMark: _ = try popMark()
      case .dup: try push(try top())

      // Constants and numbers.
      case .none: try push(.none)
      case .newTrue: try push(.bool(true))
      case .newFalse: try push(.bool(false))
      case .binInt: try push(.int(Int(try le(Int32.self))))
      case .binInt1: try push(.int(Int(try u8())))
      case .binInt2: try push(.int(Int(try le(UInt16.self))))
      case .long1:
        let n = Int(try u8())
        try push(integer(from: try take(n, "a LONG1")))
      case .long4:
        let n = try length(Int32.self, "LONG4")
        try push(integer(from: try take(n, "a LONG4")))
      case .int:  // also True/False, as I01/I00
        let text = try line()
        if text == "01" {
          try push(.bool(true))
        } else if text == "00" {
          try push(.bool(false))
        } else {
          try push(try parseDecimal(text))
        }
      case .long:
        var text = try line()
        if text.hasSuffix("L") { text.removeLast() }
        try push(try parseDecimal(text))
      case .binFloat:  // big-endian
        try need(8, "a BINFLOAT")
        let raw = try reader.readBigEndian(UInt64.self)
        try push(.float(Double(bitPattern: raw)))
      case .float:
        let text = try line()
        guard let d = Double(text) else { throw fail(.invalidHeader, "FLOAT argument '\(text)' is not a number") }
        try push(.float(d))

      // Strings and bytes.
      case .binUnicode: try push(.string(utf8(try take(try length(UInt32.self, "BINUNICODE"), "a BINUNICODE"))))
      case .shortBinUnicode: try push(.string(utf8(try take(Int(try u8()), "a SHORT_BINUNICODE"))))
      case .binUnicode8: try push(.string(utf8(try take(try length(UInt64.self, "BINUNICODE8"), "a BINUNICODE8"))))
      case .unicode:  // raw-unicode-escape; \uXXXX escapes are kept as text
        try push(.string(try line()))
      case .binString: try push(.string(latin1(try take(try length(Int32.self, "BINSTRING"), "a BINSTRING"))))
      case .shortBinString: try push(.string(latin1(try take(Int(try u8()), "a SHORT_BINSTRING"))))
      case .string:  // a quoted repr
        var text = try line()
        if text.count >= 2, let f = text.first, f == "'" || f == "\"", text.last == f {
          text = String(text.dropFirst().dropLast())
        }
        try push(.string(text))
      case .binBytes: try push(.bytes(Array(try take(try length(UInt32.self, "BINBYTES"), "a BINBYTES"))))
      case .shortBinBytes: try push(.bytes(Array(try take(Int(try u8()), "a SHORT_BINBYTES"))))
      case .binBytes8: try push(.bytes(Array(try take(try length(UInt64.self, "BINBYTES8"), "a BINBYTES8"))))
      case .byteArray8: try push(.bytes(Array(try take(try length(UInt64.self, "BYTEARRAY8"), "a BYTEARRAY8"))))
      case .nextBuffer, .readonlyBuffer:
        throw fail(
          .unsupported, "out-of-band pickle buffers (protocol 5 NEXT_BUFFER/READONLY_BUFFER) are not supported")

      // Containers.
      case .emptyTuple: try push(.node(try makeNode(.tuple)))
      case .tuple1: try push(.node(try makeNode(.tuple, items: [try pop()])))
      case .tuple2:
        let b = try pop()
        let a = try pop()
        try push(.node(try makeNode(.tuple, items: [a, b])))
      case .tuple3:
        let c = try pop()
        let b = try pop()
        let a = try pop()
        try push(.node(try makeNode(.tuple, items: [a, b, c])))
      case .tuple: try push(.node(try makeNode(.tuple, items: try popMark())))
      case .emptyList: try push(.node(try makeNode(.list)))
      case .list: try push(.node(try makeNode(.list, items: try popMark())))
      case .emptyDict: try push(.node(try makeNode(.dict)))
      case .dict:
        let kv = try popMark()
        let d = try makeNode(.dict)
        try setItems(.node(d), kv)
        try push(.node(d))
      case .emptySet: try push(.node(try makeNode(.set)))
      case .frozenSet: try push(.node(try makeNode(.set, items: try popMark())))
      case .addItems:
        let items = try popMark()
        try append(try top(), items)
      case .append:
        let v = try pop()
        try append(try top(), [v])
      case .appends:
        let items = try popMark()
        try append(try top(), items)
      case .setItem:
        let v = try pop()
        let k = try pop()
        try setItems(try top(), [k, v])
      case .setItems:
        let kv = try popMark()
        try setItems(try top(), kv)

      // Memo.
      case .binPut: try memoize(Int(try u8()), try top())
      case .longBinPut: try memoize(Int(try le(UInt32.self)), try top())
      case .memoize: try memoize(memo.count, try top())
      case .put:
        let text = try line()
        guard let i = Int(text) else { throw fail(.invalidHeader, "PUT argument '\(text)' is not an integer") }
        try memoize(i, try top())
      case .binGet: try push(try recall(Int(try u8())))
      case .longBinGet: try push(try recall(Int(try le(UInt32.self))))
      case .get:
        let text = try line()
        guard let i = Int(text) else { throw fail(.invalidHeader, "GET argument '\(text)' is not an integer") }
        try push(try recall(i))

      // Globals, calls, objects.
      case .global:
        let (module, name) = PickleMachine.python3Name(try line(), try line(), proto: proto)
        noteGlobal(module, name)
        try push(.global(module: module, name: name))
      case .stackGlobal:
        let name = try pop()
        let module = try pop()
        guard let m = module.string, let n = name.string else {
          throw fail(.invalidHeader, "STACK_GLOBAL needs two strings, got \(module.summary) and \(name.summary)")
        }
        noteGlobal(m, n)
        try push(.global(module: m, name: n))
      case .ext1, .ext2, .ext4:  // The copyreg extension registry is empty in practice.
        let code =
          op == .ext1 ? Int(try u8()) : (op == .ext2 ? Int(try le(UInt16.self)) : Int(try le(Int32.self)))
        noteGlobal("copyreg", "extension_\(code)")
        try push(.global(module: "copyreg", name: "extension_\(code)"))
      case .reduce:
        let args = try pop()
        let callable = try pop()
        guard let a = args.sequence else {
          throw fail(.invalidHeader, "REDUCE arguments must be a tuple, got \(args.summary)")
        }
        try push(try call(callable, a, "REDUCE"))
      case .newObj:
        let args = try pop()
        let cls = try pop()
        guard let a = args.sequence else { throw fail(.invalidHeader, "NEWOBJ arguments must be a tuple") }
        try push(try call(cls, a, "NEWOBJ"))
      case .newObjEx:
        let kwargs = try pop()
        let args = try pop()
        let cls = try pop()
        guard let a = args.sequence else { throw fail(.invalidHeader, "NEWOBJ_EX arguments must be a tuple") }
        let v = try call(cls, a, "NEWOBJ_EX")
        if let n = v.node, n.kind == .object, let kw = kwargs.node { n.pairs += kw.pairs }
        try push(v)
      case .inst:
        let (module, name) = PickleMachine.python3Name(try line(), try line(), proto: proto)
        noteGlobal(module, name)
        let args = try popMark()
        try push(try call(.global(module: module, name: name), args, "INST"))
      case .obj:
        var args = try popMark()
        guard !args.isEmpty else { throw fail(.invalidHeader, "OBJ without a class") }
        let cls = args.removeFirst()
        try push(try call(cls, args, "OBJ"))
      case .build:
        let state = try pop()
        let target = try top()
        switch target {
        case .external(let e):
          if try !interpreter.build(e, state: state, at: opcodeOffset) {
            throw fail(.invalidHeader, "BUILD on \(e.summary), which takes no state")
          }
        case .node(let n):
          n.state = state
        default:
          throw fail(.invalidHeader, "BUILD on \(target.summary)")
        }
      case .binPersID:
        let pid = try pop()
        try push(try interpreter.persistentLoad(pid, at: opcodeOffset))
      case .persID:
        let pid = try line()
        try push(try interpreter.persistentLoad(.string(pid), at: opcodeOffset))
      }
    }
  }
}
