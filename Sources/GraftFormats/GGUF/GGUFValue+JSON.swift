public import GraftCore

extension GGUFValue {
  /// The value as plain JSON (numbers, strings, booleans, arrays), as it appears in ``TensorTable/metadata``.
  public var json: JSONValue {
    switch self {
    case .uint8(let v): return .int(Int64(v))
    case .int8(let v): return .int(Int64(v))
    case .uint16(let v): return .int(Int64(v))
    case .int16(let v): return .int(Int64(v))
    case .uint32(let v): return .int(Int64(v))
    case .int32(let v): return .int(Int64(v))
    case .uint64(let v): return Int64(exactly: v).map(JSONValue.int) ?? .uint(v)
    case .int64(let v): return .int(v)
    case .float32(let v): return .double(Double(v))
    case .float64(let v): return .double(v)
    case .bool(let v): return .bool(v)
    case .string(let v): return .string(v)
    case .array(let a): return a.json
    }
  }

  /// The GGUF type as JSON.
  ///
  /// `"UINT32"`, `"ARRAY[STRING]"`, or for arrays of arrays the list of the inner arrays' descriptors. Stored in
  /// `metadata["gguf.types"]` so that a table read from GGUF is written back with the same types.
  public var typeDescriptor: JSONValue {
    guard case .array(let a) = self else { return .string(type.name) }
    return a.typeDescriptor
  }

  /// Rebuilds a value from its JSON and its ``typeDescriptor``.
  ///
  /// - Throws: `invalidArgument` naming `key` when the JSON does not fit the type (300 as UINT8, a string as INT32).
  public init(json: JSONValue, descriptor: JSONValue, key: String) throws(GraftError) {
    func mismatch(_ what: String) -> GraftError {
      GraftError(.invalidArgument, "metadata '\(key)': \(json.kindDescription) does not fit \(what)")
    }
    switch descriptor {
    case .array(let inner):
      guard let items = json.arrayValue, items.count == inner.count else { throw mismatch("an array of arrays") }
      var arrays: [GGUFArray] = []
      for (item, d) in zip(items, inner) {
        guard case .array(let a) = try GGUFValue(json: item, descriptor: d, key: key) else {
          throw mismatch("an array of arrays")
        }
        arrays.append(a)
      }
      self = .array(GGUFArray(arrays: arrays))
    case .string(let name) where name.hasPrefix("ARRAY[") && name.hasSuffix("]"):
      let elementName = String(name.dropFirst(6).dropLast())
      guard let element = GGUFValueType(name: elementName), element != .array, let items = json.arrayValue else {
        throw mismatch(name)
      }
      if element == .string {
        var strings: [String] = []
        for item in items {
          guard let s = item.stringValue else { throw mismatch(name) }
          strings.append(s)
        }
        self = .array(GGUFArray(strings: strings))
      } else {
        var values: [GGUFValue] = []
        for item in items { values.append(try GGUFValue.scalar(item, element, key: key)) }
        self = .array(try GGUFArray(element, values: values))
      }
    case .string(let name):
      guard let type = GGUFValueType(name: name), type != .array else { throw mismatch("the type '\(name)'") }
      self = try GGUFValue.scalar(json, type, key: key)
    default:
      throw GraftError(.invalidArgument, "metadata '\(key)': the type descriptor is not a string or an array")
    }
  }

  /// A scalar of `type` from JSON, exact for integers.
  static func scalar(_ json: JSONValue, _ type: GGUFValueType, key: String) throws(GraftError) -> GGUFValue {
    func integer<T: FixedWidthInteger>(_: T.Type) throws(GraftError) -> T {
      switch json {
      case .int(let v): if let x = T(exactly: v) { return x }
      case .uint(let v): if let x = T(exactly: v) { return x }
      case .double(let v): if let x = T(exactly: v) { return x }
      default: break
      }
      throw GraftError(.invalidArgument, "metadata '\(key)': \(json.kindDescription) does not fit \(type)")
    }
    switch type {
    case .uint8: return .uint8(try integer(UInt8.self))
    case .int8: return .int8(try integer(Int8.self))
    case .uint16: return .uint16(try integer(UInt16.self))
    case .int16: return .int16(try integer(Int16.self))
    case .uint32: return .uint32(try integer(UInt32.self))
    case .int32: return .int32(try integer(Int32.self))
    case .uint64: return .uint64(try integer(UInt64.self))
    case .int64: return .int64(try integer(Int64.self))
    case .float32, .float64:
      guard let d = json.doubleValue else {
        throw GraftError(.invalidArgument, "metadata '\(key)': \(json.kindDescription) is not a number")
      }
      return type == .float32 ? .float32(Float(d)) : .float64(d)
    case .bool:
      guard let b = json.boolValue else {
        throw GraftError(.invalidArgument, "metadata '\(key)': \(json.kindDescription) is not a boolean")
      }
      return .bool(b)
    case .string:
      guard let s = json.stringValue else {
        throw GraftError(.invalidArgument, "metadata '\(key)': \(json.kindDescription) is not a string")
      }
      return .string(s)
    case .array:
      throw GraftError(.invalidArgument, "metadata '\(key)': an array needs an ARRAY[…] descriptor")
    }
  }

  /// A value for metadata that carries no GGUF type, typed the way gguf-py types Python values.
  ///
  /// str → STRING, bool → BOOL, int → INT32, float → FLOAT32, list → ARRAY of the first element's type; integers
  /// that do not fit INT32 widen to INT64 or UINT64. Objects and null become their compact JSON text as STRING.
  ///
  /// - Throws: `invalidArgument` for an empty or mixed array (no type can be inferred).
  public static func inferred(from json: JSONValue, key: String) throws(GraftError) -> GGUFValue {
    switch json {
    case .string(let s): return .string(s)
    case .bool(let b): return .bool(b)
    case .int(let v): return Int32(exactly: v).map(GGUFValue.int32) ?? .int64(v)
    case .uint(let v):
      return Int32(exactly: v).map(GGUFValue.int32) ?? Int64(exactly: v).map(GGUFValue.int64) ?? .uint64(v)
    case .double(let d): return .float32(Float(d))
    case .null, .object: return .string(json.serialized(.compact))
    case .array(let items):
      guard !items.isEmpty else {
        throw GraftError(
          .invalidArgument, "metadata '\(key)' is an empty array without a GGUF type; give it one in gguf.types")
      }
      let values = try items.map { (item) throws(GraftError) -> GGUFValue in try inferred(from: item, key: key) }
      let firstType = values[0].type
      if firstType == .array {
        return .array(GGUFArray(arrays: values.compactMap(\.arrayValue)))
      }
      // Widen integer arrays to the widest inferred element type, as one GGUF array has one element type.
      let widest: GGUFValueType =
        values.contains { $0.type == .uint64 } ? .uint64 : values.contains { $0.type == .int64 } ? .int64 : firstType
      guard values.allSatisfy({ $0.type == widest || ($0.type == .int32 && (widest == .int64 || widest == .uint64)) })
      else {
        throw GraftError(
          .invalidArgument, "metadata '\(key)' mixes element types; a GGUF array has one (give it one in gguf.types)")
      }
      if widest == .string { return .array(GGUFArray(strings: values.compactMap(\.stringValue))) }
      return .array(
        try GGUFArray(widest, values: try values.map { v throws(GraftError) in try scalar(v.json, widest, key: key) }))
    }
  }
}

extension GGUFArray {
  /// The elements as a JSON array.
  public var json: JSONValue {
    switch storage {
    case .strings(let s): return .array(s.map(JSONValue.string))
    case .arrays(let a): return .array(a.map(\.json))
    case .numbers: return .array(values.map(\.json))
    }
  }

  /// See ``GGUFValue/typeDescriptor``.
  public var typeDescriptor: JSONValue {
    if case .arrays(let a) = storage { return .array(a.map(\.typeDescriptor)) }
    return .string("ARRAY[\(elementType.name)]")
  }
}
