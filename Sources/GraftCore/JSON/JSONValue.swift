/// A JSON value with object keys kept in document order.
///
/// Graft parses every JSON it reads (safetensors headers, shard indexes, `.graft` headers, metadata) into this
/// type with its own parser, which reports duplicate keys and the byte offset of every syntax error.
public enum JSONValue: Sendable, Hashable {
  /// `null`.
  case null
  /// `true` or `false`.
  case bool(Bool)
  /// An integer that fits in `Int64`.
  case int(Int64)
  /// A non-negative integer above `Int64.max`.
  case uint(UInt64)
  /// Any other number.
  case double(Double)
  /// A string.
  case string(String)
  /// An array.
  case array([JSONValue])
  /// An object, keys in document order.
  case object(JSONObject)

  /// The string, if this is one.
  public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
  /// The object, if this is one.
  public var objectValue: JSONObject? { if case .object(let o) = self { return o } else { return nil } }
  /// The array, if this is one.
  public var arrayValue: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
  /// The boolean, if this is one.
  public var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }
  /// The value as an `Int` when it is an integer that fits.
  public var intValue: Int? {
    switch self {
    case .int(let v): return Int(exactly: v)
    case .uint(let v): return Int(exactly: v)
    default: return nil
    }
  }
  /// The value as a `Double` when it is any number.
  public var doubleValue: Double? {
    switch self {
    case .int(let v): return Double(v)
    case .uint(let v): return Double(v)
    case .double(let v): return v
    default: return nil
    }
  }
  /// Looks a key up when this is an object.
  public subscript(key: String) -> JSONValue? { objectValue?[key] }

  /// A short name of the value's kind, for error messages (`"a string"`, `"an array"`).
  public var kindDescription: String {
    switch self {
    case .null: return "null"
    case .bool: return "a boolean"
    case .int, .uint: return "an integer"
    case .double: return "a number"
    case .string: return "a string"
    case .array: return "an array"
    case .object: return "an object"
    }
  }
}

/// A JSON object: key–value pairs in document order.
///
/// Lookup by key is linear; parsers that need many lookups build their own dictionary once.
public struct JSONObject: Sendable, Hashable, Sequence {
  /// The members in order.
  public var members: [(key: String, value: JSONValue)]

  /// Creates an object from ordered members.
  public init(_ members: [(key: String, value: JSONValue)] = []) { self.members = members }

  /// Creates an object from a dictionary, with keys sorted so the result is deterministic.
  public init(sorting dictionary: [String: JSONValue]) {
    members = dictionary.keys.sorted().map { ($0, dictionary[$0] ?? .null) }
  }

  /// The value for a key (the last one, if the key repeats), or `nil`.
  public subscript(key: String) -> JSONValue? {
    get { members.last(where: { $0.key == key })?.value }
    set {
      if let i = members.lastIndex(where: { $0.key == key }) {
        if let newValue { members[i].value = newValue } else { members.remove(at: i) }
      } else if let newValue {
        members.append((key, newValue))
      }
    }
  }

  /// The keys in order.
  public var keys: [String] { members.map(\.key) }
  /// The number of members.
  public var count: Int { members.count }
  /// Whether the object has no members.
  public var isEmpty: Bool { members.isEmpty }

  /// Iterates the members in order.
  public func makeIterator() -> IndexingIterator<[(key: String, value: JSONValue)]> { members.makeIterator() }

  /// Members compare equal in order.
  public static func == (a: JSONObject, b: JSONObject) -> Bool {
    a.members.count == b.members.count
      && zip(a.members, b.members).allSatisfy { $0.key == $1.key && $0.value == $1.value }
  }
  /// Hashes keys and values in order.
  public func hash(into hasher: inout Hasher) {
    for (k, v) in members {
      hasher.combine(k)
      hasher.combine(v)
    }
  }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
  ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByFloatLiteral, ExpressibleByNilLiteral
{
  /// A string literal.
  public init(stringLiteral value: String) { self = .string(value) }
  /// An integer literal.
  public init(integerLiteral value: Int64) { self = .int(value) }
  /// A boolean literal.
  public init(booleanLiteral value: Bool) { self = .bool(value) }
  /// An array literal.
  public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
  /// An object literal (members keep the literal's order).
  public init(dictionaryLiteral elements: (String, JSONValue)...) {
    self = .object(JSONObject(elements.map { (key: $0.0, value: $0.1) }))
  }
  /// A floating-point literal.
  public init(floatLiteral value: Double) { self = .double(value) }
  /// `nil` as JSON `null`.
  public init(nilLiteral: ()) { self = .null }
}

extension JSONValue {
  /// An integer value from an `Int`.
  public static func integer(_ v: Int) -> JSONValue { .int(Int64(v)) }
}
