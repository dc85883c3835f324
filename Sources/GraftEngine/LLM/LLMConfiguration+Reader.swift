import GraftCore

/// Reads typed values from a config.json object, recording each value's source and every key it looked at.
struct ConfigReader {
  typealias Source = LLMConfiguration.Source
  typealias Setting = LLMConfiguration.Setting

  /// The largest count or width accepted from a configuration (dimensions, heads, layers, vocabulary).
  static let maximumDimension = 1 << 24

  let json: JSONObject
  /// The transformers class whose defaults apply, for sources and messages.
  var owner: String
  var settings: [Setting] = []
  /// Every top-level key read, so the rest can be classified.
  var read: Set<String> = []
  /// Values read but ignored, and why.
  var notes: [String] = []

  init(json: JSONObject, owner: String) {
    self.json = json
    self.owner = owner
  }

  /// The value of a key (marking it read), `nil` when absent.
  mutating func value(_ key: String) -> JSONValue? {
    read.insert(key)
    return json[key]
  }

  /// The value unless absent or JSON null.
  mutating func present(_ key: String) -> JSONValue? {
    guard let v = value(key), v != .null else { return nil }
    return v
  }

  mutating func record(_ name: String, _ value: String, _ source: Source) {
    settings.append(Setting(name: name, value: value, source: source))
  }

  static func wrongKind(_ key: String, _ value: JSONValue, expected: String) -> GraftError {
    GraftError(.invalidModel, "config.json key '\(key)' is \(value.kindDescription); expected \(expected)")
  }

  static func integer(_ key: String, _ value: JSONValue, minimum: Int) throws(GraftError) -> Int {
    // Python writes some integers as floats (`8.0`); accept those when exact.
    let n: Int?
    if let i = value.intValue {
      n = i
    } else if case .double(let d) = value, d.rounded() == d, abs(d) < Double(1 << 52) {
      n = Int(d)
    } else {
      n = nil
    }
    guard let n else { throw wrongKind(key, value, expected: "an integer") }
    guard n >= minimum, n <= maximumDimension else {
      throw GraftError(
        .invalidModel, "config.json key '\(key)' is \(n); expected an integer in \(minimum)...\(maximumDimension)")
    }
    return n
  }

  /// An integer key, the family default when absent; JSON null is an error.
  mutating func int(_ key: String, default fallback: Int, minimum: Int = 1) throws(GraftError) -> Int {
    guard let v = value(key) else {
      record(key, "\(fallback)", .familyDefault(owner))
      return fallback
    }
    if v == .null { throw GraftError(.invalidModel, "config.json key '\(key)' is null; expected an integer") }
    let n = try Self.integer(key, v, minimum: minimum)
    record(key, "\(n)", .key(key))
    return n
  }

  /// A key converted by `convert` (`nil` when the value has the wrong kind), the family default when absent.
  mutating func scalar<T>(
    _ key: String, default fallback: T, expected: String, _ convert: (JSONValue) -> T?
  ) throws(GraftError) -> T {
    guard let v = value(key) else {
      record(key, "\(fallback)", .familyDefault(owner))
      return fallback
    }
    guard let x = convert(v) else { throw Self.wrongKind(key, v, expected: expected) }
    record(key, "\(x)", .key(key))
    return x
  }

  /// A finite number key, the family default when absent.
  mutating func double(_ key: String, default fallback: Double) throws(GraftError) -> Double {
    try scalar(key, default: fallback, expected: "a finite number") {
      $0.doubleValue.flatMap { $0.isFinite ? $0 : nil }
    }
  }

  /// A boolean key, the family default when absent.
  mutating func bool(_ key: String, default fallback: Bool) throws(GraftError) -> Bool {
    try scalar(key, default: fallback, expected: "true or false") { $0.boolValue }
  }

  /// A string key, the family default when absent.
  mutating func string(_ key: String, default fallback: String) throws(GraftError) -> String {
    try scalar(key, default: fallback, expected: "a string") { $0.stringValue }
  }

  /// A list of integers (`mlp_only_layers`); absent or null is empty.
  mutating func integerList(_ key: String, below limit: Int) throws(GraftError) -> [Int] {
    guard let v = present(key) else {
      record(key, "[]", .familyDefault(owner))
      return []
    }
    guard let items = v.arrayValue else { throw Self.wrongKind(key, v, expected: "a list of layer indices") }
    var out: [Int] = []
    for (i, item) in items.enumerated() {
      let n = try Self.integer("\(key)[\(i)]", item, minimum: 0)
      guard n < limit else {
        throw GraftError(.invalidModel, "config.json key '\(key)' names layer \(n); the model has \(limit) layers")
      }
      out.append(n)
    }
    record(key, "\(out)", .key(key))
    return out
  }
}

/// transformers 5's class defaults for the keys whose defaults differ between families.
struct FamilyDefaults {
  var vocabularySize: Int
  var hiddenSize: Int
  var intermediateSize: Int
  var layerCount: Int
  var attentionHeads: Int
  /// `nil`: `num_key_value_heads` defaults to the head count.
  var keyValueHeads: Int?
  /// `nil`: `head_dim` defaults to hidden/heads.
  var headDim: Int?
  var maxPositionEmbeddings: Int
  var rmsNormEpsilon: Double
  var ropeTheta: Double

  init(_ family: LLMConfiguration.Family) {
    switch family {
    case .llama:
      self.init(32000, 4096, 11008, 32, 32, nil, nil, 2048, 1e-6, 10000)
    case .mistral:
      self.init(32000, 4096, 14336, 32, 32, 8, nil, 131_072, 1e-6, 10000)
    case .qwen2:
      self.init(151_936, 4096, 22016, 32, 32, 32, nil, 32768, 1e-6, 10000)
    case .qwen3:
      self.init(151_936, 4096, 22016, 32, 32, 32, 128, 32768, 1e-6, 10000)
    case .mixtral:
      self.init(32000, 4096, 14336, 32, 32, 8, nil, 131_072, 1e-5, 1_000_000)
    case .qwen2MoE:
      self.init(151_936, 2048, 5632, 24, 16, 16, nil, 32768, 1e-6, 10000)
    case .qwen3MoE:
      self.init(151_936, 2048, 6144, 24, 32, 4, nil, 32768, 1e-6, 10000)
    }
  }

  private init(
    _ v: Int, _ h: Int, _ i: Int, _ l: Int, _ heads: Int, _ kv: Int?, _ hd: Int?, _ maxPos: Int, _ eps: Double,
    _ theta: Double
  ) {
    vocabularySize = v
    hiddenSize = h
    intermediateSize = i
    layerCount = l
    attentionHeads = heads
    keyValueHeads = kv
    headDim = hd
    maxPositionEmbeddings = maxPos
    rmsNormEpsilon = eps
    ropeTheta = theta
  }
}
