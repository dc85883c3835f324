/// How ``JSONValue/serialized(_:)`` lays out text.
public struct JSONFormatting: Sendable {
  /// Spaces per indent level; `nil` writes compact JSON with no whitespace at all (serde_json's layout).
  public var indent: Int?
  /// Escape every non-ASCII character as `\uXXXX` (Python's `ensure_ascii=True`).
  public var asciiOnly: Bool
  /// Sort object keys.
  public var sortKeys: Bool

  /// Creates a layout.
  public init(indent: Int? = nil, asciiOnly: Bool = false, sortKeys: Bool = false) {
    self.indent = indent
    self.asciiOnly = asciiOnly
    self.sortKeys = sortKeys
  }

  /// `{"a":1,"b":[1,2]}`, as serde_json writes it (the safetensors header).
  public static let compact = JSONFormatting()
  /// Python's `json.dumps(x, indent=2)`.
  public static let pythonIndent2 = JSONFormatting(indent: 2, asciiOnly: true)
}

extension JSONValue {
  /// Serialises the value to UTF-8 text.
  public func serialized(_ formatting: JSONFormatting = .compact) -> String {
    var out: [UInt8] = []
    write(into: &out, formatting: formatting, level: 0)
    return String(decoding: out, as: UTF8.self)
  }

  /// Serialises the value to UTF-8 bytes.
  public func serializedBytes(_ formatting: JSONFormatting = .compact) -> [UInt8] {
    var out: [UInt8] = []
    write(into: &out, formatting: formatting, level: 0)
    return out
  }

  /// Appends the serialised value to `out`.
  public func write(into out: inout [UInt8], formatting: JSONFormatting = .compact, level: Int = 0) {
    switch self {
    case .null: out.append(contentsOf: Array("null".utf8))
    case .bool(let b): out.append(contentsOf: Array((b ? "true" : "false").utf8))
    case .int(let v): out.append(contentsOf: Array(String(v).utf8))
    case .uint(let v): out.append(contentsOf: Array(String(v).utf8))
    case .double(let v):
      if v.isFinite {
        if v == v.rounded(.towardZero) && abs(v) < 1e16 {
          out.append(contentsOf: Array((String(Int64(v)) + ".0").utf8))
        } else {
          out.append(contentsOf: Array("\(v)".utf8))
        }
      } else {
        // JSON has no NaN/Infinity; Python writes these bare words, which Python can read back.
        out.append(contentsOf: Array((v.isNaN ? "NaN" : (v > 0 ? "Infinity" : "-Infinity")).utf8))
      }
    case .string(let s): JSONValue.writeString(s, into: &out, asciiOnly: formatting.asciiOnly)
    case .array(let elements):
      out.append(UInt8(ascii: "["))
      if elements.isEmpty {
        out.append(UInt8(ascii: "]"))
        return
      }
      for (k, e) in elements.enumerated() {
        if k > 0 { out.append(UInt8(ascii: ",")) }
        JSONValue.newline(&out, formatting, level + 1)
        e.write(into: &out, formatting: formatting, level: level + 1)
      }
      JSONValue.newline(&out, formatting, level)
      out.append(UInt8(ascii: "]"))
    case .object(let object):
      out.append(UInt8(ascii: "{"))
      if object.isEmpty {
        out.append(UInt8(ascii: "}"))
        return
      }
      let members = formatting.sortKeys ? object.members.sorted { $0.key < $1.key } : object.members
      for (k, m) in members.enumerated() {
        if k > 0 { out.append(UInt8(ascii: ",")) }
        JSONValue.newline(&out, formatting, level + 1)
        JSONValue.writeString(m.key, into: &out, asciiOnly: formatting.asciiOnly)
        out.append(UInt8(ascii: ":"))
        if formatting.indent != nil { out.append(UInt8(ascii: " ")) }
        m.value.write(into: &out, formatting: formatting, level: level + 1)
      }
      JSONValue.newline(&out, formatting, level)
      out.append(UInt8(ascii: "}"))
    }
  }

  private static func newline(_ out: inout [UInt8], _ formatting: JSONFormatting, _ level: Int) {
    guard let indent = formatting.indent else { return }
    out.append(0x0A)
    out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: indent * level))
  }

  private static let hexDigits = Array("0123456789abcdef".utf8)

  /// Writes a JSON string literal with serde_json's escaping (and Python's `\uXXXX` for non-ASCII if asked).
  public static func writeString(_ s: String, into out: inout [UInt8], asciiOnly: Bool = false) {
    out.append(0x22)
    func u4(_ v: UInt32) {
      out.append(contentsOf: [
        UInt8(ascii: "\\"), UInt8(ascii: "u"), hexDigits[Int(v >> 12 & 0xF)], hexDigits[Int(v >> 8 & 0xF)],
        hexDigits[Int(v >> 4 & 0xF)], hexDigits[Int(v & 0xF)],
      ])
    }
    for scalar in s.unicodeScalars {
      switch scalar.value {
      case 0x22: out.append(contentsOf: [0x5C, 0x22])
      case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
      case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
      case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
      case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
      case 0x08: out.append(contentsOf: [0x5C, UInt8(ascii: "b")])
      case 0x0C: out.append(contentsOf: [0x5C, UInt8(ascii: "f")])
      case 0..<0x20: u4(scalar.value)
      case 0x20..<0x80: out.append(UInt8(scalar.value))
      default:
        if asciiOnly {
          if scalar.value >= 0x10000 {
            let v = scalar.value - 0x10000
            u4(0xD800 + (v >> 10))
            u4(0xDC00 + (v & 0x3FF))
          } else {
            u4(scalar.value)
          }
        } else {
          out.append(contentsOf: Array(String(Character(scalar)).utf8))
        }
      }
    }
    out.append(0x22)
  }
}
