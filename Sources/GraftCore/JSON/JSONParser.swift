/// A strict JSON parser (RFC 8259) over raw bytes that reports byte offsets and duplicate keys.
///
/// Unlike `JSONDecoder`, it keeps object members in order, distinguishes integers from floats exactly (integers
/// up to `UInt64.max`), caps nesting depth, and can reject or accept duplicate keys (`safetensors` headers must
/// not repeat a tensor name; the reference crate silently keeps the last one).
public struct JSONParser {
  /// What to do when an object repeats a key.
  public enum DuplicateKeys: Sendable {
    /// Throw `duplicateKey`.
    case reject
    /// Keep both members (lookup returns the last, as Python and serde do).
    case keepLast
  }

  /// Options for parsing.
  public struct Options: Sendable {
    /// Duplicate key policy; `.reject` by default.
    public var duplicateKeys: DuplicateKeys = .reject
    /// Maximum nesting depth of arrays and objects.
    public var maximumDepth: Int = 256
    /// Creates default options.
    public init() {}
  }

  private let bytes: UnsafeRawBufferPointer
  private let baseOffset: Int
  private let file: String?
  private let options: Options
  private var i = 0

  private init(bytes: UnsafeRawBufferPointer, baseOffset: Int, file: String?, options: Options) {
    self.bytes = bytes
    self.baseOffset = baseOffset
    self.file = file
    self.options = options
  }

  /// Parses one JSON document; leading and trailing JSON whitespace are allowed, anything else after it is not.
  ///
  /// - Parameters:
  ///   - bytes: The document's bytes.
  ///   - baseOffset: The absolute offset of `bytes[0]` in `file`, so errors point into the file.
  ///   - file: The file, for error messages.
  /// - Throws: ``GraftError`` with code `invalidJSON` (or `duplicateKey`) and the byte offset of the problem.
  public static func parse(
    _ bytes: UnsafeRawBufferPointer, baseOffset: Int = 0, file: String? = nil, options: Options = Options()
  ) throws(GraftError) -> JSONValue {
    var parser = JSONParser(bytes: bytes, baseOffset: baseOffset, file: file, options: options)
    parser.skipWhitespace()
    let value = try parser.parseValue(depth: 0)
    parser.skipWhitespace()
    if parser.i != bytes.count { throw parser.fail("unexpected data after the JSON value") }
    return value
  }

  /// Parses a JSON document from a string.
  public static func parse(_ text: String, options: Options = Options()) throws(GraftError) -> JSONValue {
    let utf8 = Array(text.utf8)
    let result = utf8.withUnsafeBytes { raw in Result { () throws(GraftError) in try parse(raw, options: options) } }
    return try result.get()
  }

  private func fail(_ message: String, at position: Int? = nil, code: GraftError.Code = .invalidJSON) -> GraftError {
    GraftError(code, message, file: file, byteOffset: baseOffset + (position ?? i))
  }

  private mutating func skipWhitespace() {
    while i < bytes.count {
      switch bytes[i] {
      case 0x20, 0x09, 0x0A, 0x0D: i += 1
      default: return
      }
    }
  }

  private func describeByte(at p: Int) -> String {
    guard p < bytes.count else { return "end of input" }
    let b = bytes[p]
    if b >= 0x20 && b < 0x7F { return "'\(Character(Unicode.Scalar(b)))'" }
    return "byte 0x" + String(b, radix: 16)
  }

  private mutating func parseValue(depth: Int) throws(GraftError) -> JSONValue {
    guard i < bytes.count else { throw fail("expected a value but found the end of input") }
    switch bytes[i] {
    case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
    case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
    case UInt8(ascii: "\""): return .string(try parseString())
    case UInt8(ascii: "t"):
      try expectLiteral("true")
      return .bool(true)
    case UInt8(ascii: "f"):
      try expectLiteral("false")
      return .bool(false)
    case UInt8(ascii: "n"):
      try expectLiteral("null")
      return .null
    case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
    default: throw fail("expected a value but found \(describeByte(at: i))")
    }
  }

  private mutating func expectLiteral(_ word: StaticString) throws(GraftError) {
    let n = word.utf8CodeUnitCount
    guard i + n <= bytes.count else { throw fail("expected '\(word)'") }
    for k in 0..<n where bytes[i + k] != word.utf8Start[k] { throw fail("expected '\(word)'") }
    i += n
  }

  private mutating func parseObject(depth: Int) throws(GraftError) -> JSONValue {
    guard depth <= options.maximumDepth else {
      throw fail("nesting deeper than \(options.maximumDepth) levels", code: .limitExceeded)
    }
    i += 1
    var members: [(key: String, value: JSONValue)] = []
    var seen = Set<String>()
    skipWhitespace()
    if i < bytes.count && bytes[i] == UInt8(ascii: "}") {
      i += 1
      return .object(JSONObject())
    }
    while true {
      skipWhitespace()
      guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else {
        throw fail("expected a string key but found \(describeByte(at: i))")
      }
      let keyStart = i
      let key = try parseString()
      if options.duplicateKeys == .reject && !seen.insert(key).inserted {
        throw fail("duplicate key \"\(key)\"", at: keyStart, code: .duplicateKey)
      }
      skipWhitespace()
      guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else {
        throw fail("expected ':' after key \"\(key)\" but found \(describeByte(at: i))")
      }
      i += 1
      skipWhitespace()
      let value = try parseValue(depth: depth)
      members.append((key, value))
      if try closes(UInt8(ascii: "}"), "object") { return .object(JSONObject(members)) }
    }
  }

  private mutating func parseArray(depth: Int) throws(GraftError) -> JSONValue {
    guard depth <= options.maximumDepth else {
      throw fail("nesting deeper than \(options.maximumDepth) levels", code: .limitExceeded)
    }
    i += 1
    var elements: [JSONValue] = []
    skipWhitespace()
    if i < bytes.count && bytes[i] == UInt8(ascii: "]") {
      i += 1
      return .array([])
    }
    while true {
      skipWhitespace()
      elements.append(try parseValue(depth: depth))
      if try closes(UInt8(ascii: "]"), "array") { return .array(elements) }
    }
  }

  /// After a member of an object or an element of an array: consumes `,` (more follow) or `close` (the end).
  private mutating func closes(_ close: UInt8, _ what: String) throws(GraftError) -> Bool {
    skipWhitespace()
    guard i < bytes.count else { throw fail("unterminated \(what)") }
    let byte = bytes[i]
    guard byte == UInt8(ascii: ",") || byte == close else {
      throw fail("expected ',' or '\(Character(Unicode.Scalar(close)))' in \(what) but found \(describeByte(at: i))")
    }
    i += 1
    return byte == close
  }

  private mutating func parseHex4() throws(GraftError) -> UInt32 {
    guard i + 4 <= bytes.count else { throw fail("truncated \\u escape") }
    var v: UInt32 = 0
    for _ in 0..<4 {
      let c = bytes[i]
      let d: UInt32
      switch c {
      case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
      case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
      case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
      default: throw fail("invalid hex digit in \\u escape")
      }
      v = v << 4 | d
      i += 1
    }
    return v
  }

  private mutating func parseString() throws(GraftError) -> String {
    let start = i
    i += 1
    // Fast path: no escapes.
    var j = i
    while j < bytes.count {
      let c = bytes[j]
      if c == UInt8(ascii: "\"") {
        let raw = UnsafeRawBufferPointer(rebasing: bytes[i..<j])
        guard let s = String(validating: raw, as: UTF8.self) else { throw fail("invalid UTF-8 in string", at: start) }
        i = j + 1
        return s
      }
      if c == UInt8(ascii: "\\") { break }
      if c < 0x20 { throw fail("unescaped control character in string", at: j) }
      j += 1
    }
    var out: [UInt8] = Array(bytes[i..<min(j, bytes.count)])
    i = j
    while true {
      guard i < bytes.count else { throw fail("unterminated string", at: start) }
      let c = bytes[i]
      if c == UInt8(ascii: "\"") {
        i += 1
        break
      }
      if c < 0x20 { throw fail("unescaped control character in string") }
      if c != UInt8(ascii: "\\") {
        out.append(c)
        i += 1
        continue
      }
      i += 1
      guard i < bytes.count else { throw fail("unterminated escape") }
      let e = bytes[i]
      i += 1
      switch e {
      case UInt8(ascii: "\""): out.append(0x22)
      case UInt8(ascii: "\\"): out.append(0x5C)
      case UInt8(ascii: "/"): out.append(0x2F)
      case UInt8(ascii: "b"): out.append(0x08)
      case UInt8(ascii: "f"): out.append(0x0C)
      case UInt8(ascii: "n"): out.append(0x0A)
      case UInt8(ascii: "r"): out.append(0x0D)
      case UInt8(ascii: "t"): out.append(0x09)
      case UInt8(ascii: "u"):
        var scalar = try parseHex4()
        if scalar >= 0xD800 && scalar < 0xDC00 {
          guard i + 6 <= bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
            throw fail("unpaired surrogate in \\u escape")
          }
          i += 2
          let low = try parseHex4()
          guard low >= 0xDC00 && low < 0xE000 else { throw fail("invalid low surrogate in \\u escape") }
          scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
        } else if scalar >= 0xDC00 && scalar < 0xE000 {
          throw fail("unpaired surrogate in \\u escape")
        }
        guard let u = Unicode.Scalar(scalar) else { throw fail("invalid \\u escape") }
        out.append(contentsOf: Array(String(Character(u)).utf8))
      default: throw fail("invalid escape '\\\(Character(Unicode.Scalar(e)))'", at: i - 2)
      }
    }
    guard let s = String(validating: out, as: UTF8.self) else { throw fail("invalid UTF-8 in string", at: start) }
    return s
  }

  private mutating func parseNumber() throws(GraftError) -> JSONValue {
    let start = i
    var negative = false
    if bytes[i] == UInt8(ascii: "-") {
      negative = true
      i += 1
    }
    guard i < bytes.count, bytes[i] >= UInt8(ascii: "0"), bytes[i] <= UInt8(ascii: "9") else {
      throw fail("invalid number", at: start)
    }
    if bytes[i] == UInt8(ascii: "0"), i + 1 < bytes.count, bytes[i + 1] >= UInt8(ascii: "0"),
      bytes[i + 1] <= UInt8(ascii: "9")
    {
      throw fail("leading zeros are not allowed in numbers", at: start)
    }
    var magnitude: UInt64 = 0
    var overflow = false
    while i < bytes.count, bytes[i] >= UInt8(ascii: "0"), bytes[i] <= UInt8(ascii: "9") {
      let (m, o1) = magnitude.multipliedReportingOverflow(by: 10)
      let (a, o2) = m.addingReportingOverflow(UInt64(bytes[i] - UInt8(ascii: "0")))
      overflow = overflow || o1 || o2
      magnitude = a
      i += 1
    }
    var isInteger = true
    if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
      isInteger = false
      i += 1
      let digits = i
      while i < bytes.count, bytes[i] >= UInt8(ascii: "0"), bytes[i] <= UInt8(ascii: "9") { i += 1 }
      if i == digits { throw fail("expected digits after the decimal point") }
    }
    if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
      isInteger = false
      i += 1
      if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
      let digits = i
      while i < bytes.count, bytes[i] >= UInt8(ascii: "0"), bytes[i] <= UInt8(ascii: "9") { i += 1 }
      if i == digits { throw fail("expected digits in the exponent") }
    }
    if isInteger && !overflow {
      if negative {
        if magnitude <= UInt64(Int64.max) { return .int(-Int64(magnitude)) }
        if magnitude == UInt64(Int64.max) + 1 { return .int(Int64.min) }
      } else {
        if magnitude <= UInt64(Int64.max) { return .int(Int64(magnitude)) }
        return .uint(magnitude)
      }
    }
    let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
    guard let d = Double(text) else { throw fail("invalid number", at: start) }
    // Like serde_json (the safetensors crate's parser): a number beyond the double range is an error, not infinity,
    // which JSON cannot represent and the serialiser would have to write as a non-JSON word.
    guard d.isFinite else { throw fail("number out of range", at: start) }
    return .double(d)
  }
}
