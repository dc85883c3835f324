/// The opcodes of pickle protocols 0–5, as CPython's `pickletools` names them.
///
/// ``PickleMachine`` implements every one of them (out-of-band buffers are refused by name); a byte that is not
/// one of these is an unknown opcode.
enum PickleOpcode: UInt8 {
  // Framing and control.
  case proto = 0x80
  case frame = 0x95
  case stop = 0x2E
  case mark = 0x28
  case pop = 0x30
  case popMark = 0x31
  case dup = 0x32

  // Constants and numbers.
  case none = 0x4E
  case newTrue = 0x88
  case newFalse = 0x89
  case binInt = 0x4A
  case binInt1 = 0x4B
  case binInt2 = 0x4D
  case long1 = 0x8A
  case long4 = 0x8B
  case int = 0x49
  case long = 0x4C
  case binFloat = 0x47
  case float = 0x46

  // Strings and bytes.
  case binUnicode = 0x58
  case shortBinUnicode = 0x8C
  case binUnicode8 = 0x8D
  case unicode = 0x56
  case binString = 0x54
  case shortBinString = 0x55
  case string = 0x53
  case binBytes = 0x42
  case shortBinBytes = 0x43
  case binBytes8 = 0x8E
  case byteArray8 = 0x96
  case nextBuffer = 0x97
  case readonlyBuffer = 0x98

  // Containers.
  case emptyTuple = 0x29
  case tuple1 = 0x85
  case tuple2 = 0x86
  case tuple3 = 0x87
  case tuple = 0x74
  case emptyList = 0x5D
  case list = 0x6C
  case emptyDict = 0x7D
  case dict = 0x64
  case emptySet = 0x8F
  case frozenSet = 0x91
  case addItems = 0x90
  case append = 0x61
  case appends = 0x65
  case setItem = 0x73
  case setItems = 0x75

  // Memo.
  case binPut = 0x71
  case longBinPut = 0x72
  case memoize = 0x94
  case put = 0x70
  case binGet = 0x68
  case longBinGet = 0x6A
  case get = 0x67

  // Globals, calls, objects, persistent ids.
  case global = 0x63
  case stackGlobal = 0x93
  case ext1 = 0x82
  case ext2 = 0x83
  case ext4 = 0x84
  case reduce = 0x52
  case newObj = 0x81
  case newObjEx = 0x92
  case inst = 0x69
  case obj = 0x6F
  case build = 0x62
  case binPersID = 0x51
  case persID = 0x50
}
