import GraftCore

/// Byte-level helpers over JSON that has already been parsed, used to put exact byte offsets into error messages.
///
/// `JSONValue` does not remember where a member was; rescanning the text only when an error is about to be thrown
/// keeps the happy path free of bookkeeping.
enum HeaderScanner {
  /// One member of a JSON object: its key and where the key and the value start (relative to the scanned bytes).
  struct Member {
    var key: String
    var keyOffset: Int
    var valueOffset: Int
  }

  /// The position of the first non-whitespace byte at or after `start`.
  static func skipWhitespace(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Int {
    var i = start
    while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x09 || bytes[i] == 0x0A || bytes[i] == 0x0D { i += 1 }
    return i
  }

  /// The members of the object whose `{` is the first non-whitespace byte at or after `start`.
  ///
  /// Best effort: on malformed input it returns the members found so far.
  static func members(of bytes: UnsafeRawBufferPointer, objectAt start: Int = 0) -> [Member] {
    var result: [Member] = []
    var i = skipWhitespace(bytes, from: start)
    guard i < bytes.count, bytes[i] == UInt8(ascii: "{") else { return result }
    i += 1
    while true {
      i = skipWhitespace(bytes, from: i)
      guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { return result }
      let keyOffset = i
      guard let keyEnd = endOfString(bytes, at: i), let key = string(in: bytes, at: i) else { return result }
      i = skipWhitespace(bytes, from: keyEnd)
      guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { return result }
      i = skipWhitespace(bytes, from: i + 1)
      let valueOffset = i
      guard let valueEnd = endOfValue(bytes, at: i) else { return result }
      result.append(Member(key: key, keyOffset: keyOffset, valueOffset: valueOffset))
      i = skipWhitespace(bytes, from: valueEnd)
      guard i < bytes.count, bytes[i] == UInt8(ascii: ",") else { return result }
      i += 1
    }
  }

  /// Decodes the JSON string literal starting at `offset` (its opening quote).
  static func string(in bytes: UnsafeRawBufferPointer, at offset: Int) -> String? {
    guard offset >= 0, let end = endOfString(bytes, at: offset) else { return nil }
    let slice = UnsafeRawBufferPointer(rebasing: bytes[offset..<end])
    return (try? JSONParser.parse(slice))?.stringValue
  }

  /// The position just after the string literal whose opening quote is at `offset`.
  static func endOfString(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> Int? {
    guard offset >= 0, offset < bytes.count, bytes[offset] == UInt8(ascii: "\"") else { return nil }
    var i = offset + 1
    while i < bytes.count {
      switch bytes[i] {
      case UInt8(ascii: "\\"): i += 2
      case UInt8(ascii: "\""): return i + 1
      default: i += 1
      }
    }
    return nil
  }

  /// The position just after the JSON value starting at `offset`.
  static func endOfValue(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> Int? {
    guard offset < bytes.count else { return nil }
    switch bytes[offset] {
    case UInt8(ascii: "\""): return endOfString(bytes, at: offset)
    case UInt8(ascii: "{"), UInt8(ascii: "["):
      var depth = 0
      var i = offset
      while i < bytes.count {
        switch bytes[i] {
        case UInt8(ascii: "\""):
          guard let end = endOfString(bytes, at: i) else { return nil }
          i = end
          continue
        case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
        case UInt8(ascii: "}"), UInt8(ascii: "]"):
          depth -= 1
          if depth == 0 { return i + 1 }
        default: break
        }
        i += 1
      }
      return nil
    default:
      var i = offset
      while i < bytes.count {
        switch bytes[i] {
        case UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), 0x20, 0x09, 0x0A, 0x0D: return i
        default: i += 1
        }
      }
      return i
    }
  }

  /// The offset of the first byte that is not part of a valid UTF-8 sequence, or `nil` when all bytes are valid.
  ///
  /// Follows Unicode Table 3-7 (no overlong forms, no surrogates, nothing above U+10FFFF), like Rust's `from_utf8`.
  static func firstInvalidUTF8(_ bytes: UnsafeRawBufferPointer) -> Int? {
    let n = bytes.count
    var i = 0
    while i < n {
      let c = bytes[i]
      if c < 0x80 {
        i += 1
        continue
      }
      var need = 0
      var low: UInt8 = 0x80
      var high: UInt8 = 0xBF
      switch c {
      case 0xC2...0xDF: need = 1
      case 0xE0: (need, low) = (2, 0xA0)
      case 0xE1...0xEC, 0xEE...0xEF: need = 2
      case 0xED: (need, high) = (2, 0x9F)
      case 0xF0: (need, low) = (3, 0x90)
      case 0xF1...0xF3: need = 3
      case 0xF4: (need, high) = (3, 0x8F)
      default: return i
      }
      guard i + need < n, bytes[i + 1] >= low, bytes[i + 1] <= high else { return i }
      var k = 2
      while k <= need {
        guard bytes[i + k] >= 0x80, bytes[i + k] <= 0xBF else { return i }
        k += 1
      }
      i += need + 1
    }
    return nil
  }
}
