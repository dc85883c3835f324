public import GraftCore

/// The dict literal of a `.npy` header: `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`.
///
/// A tiny parser for exactly the Python literals NumPy writes (strings, booleans, integer tuples), which never
/// evaluates anything. A trailing `# graft-dtype: BF16` comment records a dtype NumPy lacks.
struct NPYHeader {
  var descr = ""
  var fortranOrder = false
  var shape: [Int] = []
  var graftDType: DType?

  init(parsing bytes: [UInt8], file: String, baseOffset: Int) throws(GraftError) {
    var i = 0
    func fail(_ message: String) -> GraftError {
      GraftError(.invalidHeader, ".npy header: " + message, file: file, byteOffset: baseOffset + i)
    }
    func skipSpace() {
      while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x09 || bytes[i] == 0x0D { i += 1 }
    }
    func expect(_ c: UInt8) throws(GraftError) {
      skipSpace()
      guard i < bytes.count, bytes[i] == c else { throw fail("expected '\(Character(Unicode.Scalar(c)))'") }
      i += 1
    }
    func string() throws(GraftError) -> String {
      skipSpace()
      guard i < bytes.count, bytes[i] == 0x27 || bytes[i] == 0x22 else { throw fail("expected a quoted string") }
      let quote = bytes[i]
      i += 1
      let start = i
      while i < bytes.count, bytes[i] != quote { i += 1 }
      guard i < bytes.count else { throw fail("unterminated string") }
      defer { i += 1 }
      return String(decoding: bytes[start..<i], as: UTF8.self)
    }
    func word() -> String {
      skipSpace()
      let start = i
      while i < bytes.count, (bytes[i] >= 0x41 && bytes[i] <= 0x5A) || (bytes[i] >= 0x61 && bytes[i] <= 0x7A) {
        i += 1
      }
      return String(decoding: bytes[start..<i], as: UTF8.self)
    }
    func integer() throws(GraftError) -> Int {
      skipSpace()
      let start = i
      while i < bytes.count, bytes[i] >= 0x30 && bytes[i] <= 0x39 { i += 1 }
      // NumPy 1.x could write `3L` on Python 2.
      guard i > start, i - start <= 18, let v = Int(String(decoding: bytes[start..<i], as: UTF8.self)) else {
        throw fail("expected a non-negative dimension")
      }
      if i < bytes.count, bytes[i] == 0x4C { i += 1 }
      return v
    }
    try expect(0x7B)
    var seen = Set<String>()
    while true {
      skipSpace()
      if i < bytes.count, bytes[i] == 0x7D {
        i += 1
        break
      }
      let key = try string()
      try expect(0x3A)
      switch key {
      case "descr":
        skipSpace()
        if i < bytes.count, bytes[i] == 0x5B {
          throw GraftError(
            .unsupported, "structured NumPy dtypes (descr lists) are not supported", file: file,
            byteOffset: baseOffset + i)
        }
        descr = try string()
      case "fortran_order":
        switch word() {
        case "True": fortranOrder = true
        case "False": fortranOrder = false
        default: throw fail("fortran_order must be True or False")
        }
      case "shape":
        try expect(0x28)
        while true {
          skipSpace()
          if i < bytes.count, bytes[i] == 0x29 {
            i += 1
            break
          }
          guard shape.count < 64 else { throw fail("more than 64 dimensions") }
          shape.append(try integer())
          skipSpace()
          if i < bytes.count, bytes[i] == 0x2C { i += 1 }
        }
      default:
        throw fail("unexpected key '\(key)'")
      }
      seen.insert(key)
      skipSpace()
      if i < bytes.count, bytes[i] == 0x2C { i += 1 }
    }
    guard seen == ["descr", "fortran_order", "shape"] else {
      throw fail("the header must have exactly the keys descr, fortran_order and shape; it has \(seen.sorted())")
    }
    skipSpace()
    let rest = String(decoding: bytes[i...], as: UTF8.self)
    if let range = rest.firstRange(of: "# graft-dtype:") {
      let name = rest[range.upperBound...].split(whereSeparator: { $0 == " " || $0 == "\n" }).first.map(String.init)
      guard let name, let d = DType(rawValue: name) else { throw fail("unknown graft-dtype in '\(rest)'") }
      graftDType = d
    }
  }
}
