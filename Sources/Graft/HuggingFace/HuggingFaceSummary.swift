/// What `inspect` shows about a Hugging Face model folder: the architecture, the key hyperparameters with their
/// sources, and the parameter count per component, as values and as rendered lines.
public struct HuggingFaceSummary: Sendable {
  /// A part of a decoder-only model, recognised from tensor names.
  public enum Component: String, Sendable, CaseIterable {
    /// `embed_tokens`.
    case embeddings
    /// q/k/v/o projections and their biases.
    case attention
    /// Dense MLPs.
    case mlp
    /// Routed experts.
    case experts
    /// The Qwen2-MoE shared expert and its gate.
    case sharedExpert = "shared expert"
    /// MoE routers (`mlp.gate`, `block_sparse_moe.gate`).
    case router
    /// RMSNorm weights (input, post-attention, final, q/k norms).
    case norms
    /// `lm_head`.
    case head
    /// Anything else.
    case other

    /// The component a tensor name belongs to: the first of ``rules`` that matches, otherwise ``other``.
    public init(tensor name: String) {
      self = Self.rules.first { $0.matches(name) }?.component ?? .other
    }

    /// The names each component claims, tried in order because they overlap: a router's names also contain `mlp.`,
    /// a q/k norm's `self_attn.`.
    static let rules: [(component: Component, matches: @Sendable (String) -> Bool)] = [
      (.embeddings, { $0.contains("embed_tokens") }),
      (.head, { $0.hasPrefix("lm_head") }),
      (.sharedExpert, { $0.contains("shared_expert") }),
      (.experts, { $0.contains("experts.") }),
      (.router, { $0.hasSuffix("mlp.gate.weight") || $0.contains("block_sparse_moe.gate.") }),
      (.norms, { $0.contains("norm") }),
      (.attention, { $0.contains("self_attn.") }),
      (.mlp, { $0.contains("mlp.") }),
    ]
  }

  /// One component's totals.
  public struct Count: Sendable, Equatable {
    /// The component.
    public var component: Component
    /// Its parameters (elements of stored tensors).
    public var parameters: Int
    /// Its tensors.
    public var tensors: Int
  }

  /// `model_type`, when config.json has one.
  public var modelType: String?
  /// `architectures`.
  public var architectures: [String]
  /// The engine's reading of config.json (every value with its source), when the family is one it runs.
  public var configuration: LLMConfiguration?
  /// Why config.json could not be read as a model the engine runs.
  public var configurationProblem: String?
  /// Parameters per component, in ``Component`` order, components without tensors omitted.
  public var counts: [Count]
  /// All stored parameters.
  public var totalParameters: Int
  /// The folder's files by role.
  public var weightFiles: [String]
  /// Tokenizer files.
  public var tokenizerFiles: [String]
  /// Other files.
  public var otherFiles: [String]

  /// Summarises an opened folder.
  public init(_ folder: HuggingFaceFolder) {
    modelType = folder.config["model_type"]?.stringValue
    architectures = folder.config["architectures"]?.arrayValue?.compactMap(\.stringValue) ?? []
    do {
      configuration = try LLMConfiguration(json: folder.config)
    } catch {
      configuration = nil
      configurationProblem = error.message
    }
    var totals: [Component: Count] = [:]
    for entry in folder.table.storedEntries {
      let c = Component(tensor: entry.name)
      var t = totals[c] ?? Count(component: c, parameters: 0, tensors: 0)
      t.parameters += entry.tensor.elementCount
      t.tensors += 1
      totals[c] = t
    }
    counts = Component.allCases.compactMap { totals[$0] }
    totalParameters = folder.table.parameterCount
    weightFiles = folder.weightFiles
    tokenizerFiles = folder.tokenizerFiles
    otherFiles = folder.otherFiles
  }

  /// The summary as text lines.
  public var lines: [String] {
    var out = [
      "Hugging Face model: model_type \(modelType ?? "(none)")"
        + (architectures.isEmpty ? "" : ", architectures " + architectures.joined(separator: ", "))
    ]
    if let configuration {
      out.append("configuration (value, source):")
      out += configuration.renderedLines.map { "  " + $0 }
    } else if let configurationProblem {
      out.append("configuration: not a model the engine runs: \(configurationProblem)")
    }
    out.append("parameters by component:")
    for c in counts {
      let share = totalParameters > 0 ? Double(c.parameters) / Double(totalParameters) * 100 : 0
      out.append(
        "  " + Format.pad(c.component.rawValue, 14) + Format.padLeft(Format.grouped(c.parameters), 16)
          + Format.padLeft("\(c.tensors)", 7) + " tensors" + Format.padLeft(Format.fixed(share, digits: 1) + " %", 8))
    }
    out.append("  " + Format.pad("total", 14) + Format.padLeft(Format.grouped(totalParameters), 16))
    out.append("weights: " + weightFiles.joined(separator: ", "))
    if !tokenizerFiles.isEmpty { out.append("tokenizer: " + tokenizerFiles.joined(separator: ", ")) }
    if !otherFiles.isEmpty { out.append("other files: " + otherFiles.joined(separator: ", ")) }
    return out
  }

  /// The summary as JSON.
  public var json: JSONValue {
    var o = JSONObject()
    o["model_type"] = modelType.map(JSONValue.string) ?? .null
    o["architectures"] = .array(architectures.map(JSONValue.string))
    if let configuration {
      o["configuration"] = .array(
        configuration.settings.map {
          ["name": .string($0.name), "value": .string($0.value), "source": .string($0.source.description)]
        })
      o["notes"] = .array(configuration.notes.map(JSONValue.string))
    }
    if let configurationProblem { o["configuration_problem"] = .string(configurationProblem) }
    o["components"] = .array(
      counts.map {
        [
          "component": .string($0.component.rawValue), "parameters": .integer($0.parameters),
          "tensors": .integer($0.tensors),
        ]
      })
    o["parameter_count"] = .integer(totalParameters)
    o["weight_files"] = .array(weightFiles.map(JSONValue.string))
    o["tokenizer_files"] = .array(tokenizerFiles.map(JSONValue.string))
    o["other_files"] = .array(otherFiles.map(JSONValue.string))
    return .object(o)
  }
}
