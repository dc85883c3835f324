public import GraftCore

/// How a routed mixture-of-experts layer turns router logits into the experts it runs and their combine weights.
///
/// The convention decides whether identical expert copies reproduce the dense MLP: only renormalised top-k (and
/// all-on for a partition) does; un-renormalised V-MoE gates scale the output by the selected probability mass.
public enum MoEGate: String, Sendable, CaseIterable {
  /// Softmax over all experts, top-k, selected weights renormalised to sum to 1 (Mixtral, Qwen3, DeepSeek).
  case softmaxTopKRenormalized = "softmax-topk-renorm"
  /// Softmax over all experts, top-k, selected probabilities used as they are (V-MoE, Switch).
  case softmaxTopK = "softmax-topk"
  /// Every expert runs with weight 1 and the router is ignored (LLaMA-MoE `UniformPlainGate`, exact for a partition).
  case allOn = "all-on"

  /// Chooses the experts of one token and their weights from its logits.
  ///
  /// Ties go to the lower expert index, so a zero router picks experts `0..<k`.
  ///
  /// - Returns: `(expert, weight)` pairs, in descending logit order.
  public func route(logits: [Float], topK: Int) -> [(expert: Int, weight: Float)] {
    let count = logits.count
    if self == .allOn { return (0..<count).map { ($0, 1) } }
    let k = Swift.max(1, Swift.min(topK, count))
    let m = logits.max() ?? 0
    var p = logits.map { Float(Elementary.exp(Double($0 - m))) }
    let total = p.reduce(0, +)
    for i in p.indices { p[i] /= total }
    let order = (0..<count).sorted { logits[$0] != logits[$1] ? logits[$0] > logits[$1] : $0 < $1 }
    let chosen = Array(order.prefix(k))
    if self == .softmaxTopK { return chosen.map { ($0, p[$0]) } }
    let selected = chosen.reduce(Float(0)) { $0 + p[$1] }
    return chosen.map { ($0, p[$0] / selected) }
  }
}

/// The MoE configuration a checkpoint carries in its metadata under ``metadataKey``, so the engine needs no flags.
public struct MoEConfiguration: Sendable, Equatable {
  /// The metadata key: a JSON object, or a string holding one (safetensors metadata values are strings).
  public static let metadataKey = "graft.moe"

  /// The number of routed experts per MoE layer.
  public var experts: Int
  /// Experts per token.
  public var topK: Int
  /// The gate convention.
  public var gate: MoEGate
  /// The MoE block indices.
  public var layers: [Int]

  /// Creates a configuration.
  public init(experts: Int, topK: Int, gate: MoEGate, layers: [Int]) {
    self.experts = experts
    self.topK = topK
    self.gate = gate
    self.layers = layers
  }

  /// Reads the configuration from a checkpoint's metadata, or `nil` when it has none.
  ///
  /// - Throws: `invalidModel` when the entry exists but is malformed.
  public init?(metadata: JSONObject) throws(GraftError) {
    guard let raw = metadata[Self.metadataKey] else { return nil }
    var value = raw
    if let text = raw.stringValue { value = try JSONParser.parse(text) }
    guard let o = value.objectValue, let e = o["experts"]?.intValue, let k = o["top_k"]?.intValue,
      let g = o["gate"]?.stringValue
    else {
      throw GraftError(
        .invalidModel, "metadata '\(Self.metadataKey)' must be an object with integer 'experts', 'top_k' and a 'gate'")
    }
    guard let gate = MoEGate(rawValue: g) else {
      throw GraftError(
        .invalidModel,
        "metadata '\(Self.metadataKey)' has gate '\(g)'; expected one of "
          + MoEGate.allCases.map(\.rawValue).joined(separator: ", "))
    }
    self.init(
      experts: e, topK: k, gate: gate, layers: o["layers"]?.arrayValue?.compactMap(\.intValue) ?? [])
  }
}
