public import GraftCore

/// Where a model's configuration value came from.
public enum ConfigurationSource: Sendable, Equatable {
  /// An explicit option (a CLI flag or a library option).
  case given
  /// Metadata that came with the checkpoint; the string names the source and key, such as
  /// `config.json global_pool` or `timm vit_small_patch16_224 (metadata architecture)`.
  case metadata(String)
  /// Read from tensor names and shapes; the string says from what.
  case inferred(String)
  /// A guess (`assumeDefaults`): nothing determined it; the string says what was assumed and why.
  case assumed(String)

  /// The source's kind: `given`, `metadata`, `inferred` or `assumed`.
  public var kind: String {
    switch self {
    case .given: "given"
    case .metadata: "metadata"
    case .inferred: "inferred"
    case .assumed: "assumed"
    }
  }

  /// The detail: which metadata key, inferred from what, assumed why (empty for `given`).
  public var detail: String {
    switch self {
    case .given: ""
    case .metadata(let s), .inferred(let s), .assumed(let s): s
    }
  }

  /// How a report prints it: `given`, `metadata config.json global_pool`, `inferred from …`, `ASSUMED …`.
  public var description: String {
    switch self {
    case .given: "given"
    case .metadata(let s): "metadata " + s
    case .inferred(let s): "inferred from " + s
    case .assumed(let s): "ASSUMED " + s
    }
  }

  /// Whether the value is a guess.
  public var isAssumption: Bool { if case .assumed = self { true } else { false } }
}

/// A configuration value with its provenance.
public struct Configured<Value: Sendable & Equatable>: Sendable, Equatable {
  /// The value.
  public var value: Value
  /// Where it came from.
  public var source: ConfigurationSource

  /// Creates a value with its source.
  public init(_ value: Value, _ source: ConfigurationSource) {
    self.value = value
    self.source = source
  }
}

/// One line of a model's configuration report: a name, its value as JSON and where it came from.
public struct ConfigurationEntry: Sendable, Equatable {
  /// The name (timm's argument name where there is one, such as `global_pool`).
  public var name: String
  /// The value.
  public var value: JSONValue
  /// Where it came from.
  public var source: ConfigurationSource

  /// Creates an entry.
  public init(_ name: String, _ value: JSONValue, _ source: ConfigurationSource) {
    self.name = name
    self.value = value
    self.source = source
  }

  /// `name = value (source)`.
  public var line: String {
    let text = value.stringValue ?? value.serialized()
    return "\(name) = \(text) (\(source.description))"
  }

  /// `{"value": …, "source": "metadata", "detail": "config.json global_pool"}`.
  public var json: JSONValue {
    .object(JSONObject([("value", value), ("source", .string(source.kind)), ("detail", .string(source.detail))]))
  }
}
