import GraftCore

extension LoRA {
  /// One adapter's contribution to one module.
  public struct Term: Sendable {
    /// The adapter's label.
    public var adapter: String
    /// The rank (rows of A).
    public var rank: Int
    /// α after `alpha_pattern`.
    public var alpha: Double
    /// `α/r` or `α/√r`.
    public var scaling: Double
    /// The combination weight w.
    public var weight: Double
    /// The pattern keys that set r or α (empty for the defaults).
    public var patternKeys: [String]
  }

  /// Everything needed to merge, or run unmerged, one targeted Linear: `W' = W + up·down` (or DoRA's form).
  public struct ModuleMerge: Sendable {
    /// The module name in the adapter (`model.layers.0.self_attn.q_proj`).
    public var module: String
    /// The base weight's name.
    public var weightName: String
    /// The base bias's name, when the base has one.
    public var biasName: String?
    /// Output features.
    public var outFeatures: Int
    /// Input features.
    public var inFeatures: Int
    /// The base weight is stored `[in, out]`.
    public var fanInFanOut: Bool
    /// The adapters that contribute.
    public var terms: [Term]
    /// The total rank R (the terms' ranks summed).
    public var rank: Int
    /// The stacked `A` factors, row-major `R × in`.
    public var down: [Double]
    /// The stacked `wᵢ·sᵢ·Bᵢ` factors, row-major `out × R`.
    public var up: [Double]
    /// DoRA's magnitude `m` (`[out]`), when the module is DoRA.
    public var magnitude: [Double]?
    /// How the base weight was found when the names differ (inferred), `nil` for an exact match.
    public var inferredMatch: String?

    /// `(up·down)[o, i]`, the delta in the `[out, in]` orientation.
    @inline(__always)
    public func delta(_ o: Int, _ i: Int) -> Double {
      var d = 0.0
      for k in 0..<rank { d += up[o * rank + k] * down[k * inFeatures + i] }
      return d
    }
  }

  /// Finds the base weight of an adapter module: `<module>.weight` exactly, else the one base weight whose name
  /// ends with the module's (a wrapper prefix in the base) or whose name the module's ends with (a wrapper in the
  /// adapter), reported as inferred.
  ///
  /// - Throws: `invalidModel` naming the module when no base weight, or several, match.
  static func baseWeight(
    for module: String, in base: TensorTable, adapter: String
  ) throws(GraftError) -> (name: String, inferred: String?) {
    let exact = module + ".weight"
    if base.contains(exact) { return (exact, nil) }
    let candidates = base.names.filter { n in
      n.hasSuffix(".weight") && (n.hasSuffix("." + exact) || exact.hasSuffix("." + n))
    }
    guard candidates.count == 1, let found = candidates.first else {
      throw GraftError(
        .invalidModel,
        "\(adapter): no base weight for this module"
          + (candidates.isEmpty ? " (expected '\(exact)')" : "; several match: \(candidates.joined(separator: ", "))"),
        tensor: module)
    }
    return (found, "'\(module)' matched base '\(found)' by name suffix")
  }

  /// Builds the merge of one module from its terms (adapter, tensors).
  static func plan(
    module: String, parts: [(adapter: Adapter, tensors: ModuleTensors)], base: TensorTable
  ) throws(GraftError) -> ModuleMerge {
    guard let first = parts.first else {
      throw GraftError(.invalidModel, "no adapter targets this module", tensor: module)
    }
    let (weightName, inferred) = try baseWeight(for: module, in: base, adapter: first.adapter.label)
    guard let weight = base[weightName], weight.shape.count >= 2 else {
      throw GraftError(.invalidModel, "a LoRA target must be a weight of rank 2 or more", tensor: weightName)
    }
    guard DeployTensors.floatTypes.contains(weight.dtype) else {
      throw GraftError(
        .unsupportedDType, "has dtype \(weight.dtype); merges write F32, F64, F16 or BF16", tensor: weightName)
    }
    let fanInFanOut = first.adapter.config.fanInFanOut
    guard !fanInFanOut || weight.shape.count == 2 else {
      throw GraftError(.invalidModel, "fan_in_fan_out applies to 2-D weights only", tensor: weightName)
    }
    // A convolution's LoRA is a Linear on its flattened kernel: A [r, in, k…] and B [out, r, 1…] (groups = 1).
    let flat = weight.shape.dropFirst().reduce(1, *)
    let (outF, inF) = fanInFanOut ? (weight.shape[1], weight.shape[0]) : (weight.shape[0], flat)
    var terms: [Term] = []
    var down: [[Double]] = []
    var up: [[Double]] = []
    var magnitude: [Double]?
    for (adapter, t) in parts {
      guard adapter.config.fanInFanOut == fanInFanOut else {
        throw GraftError(.invalidModel, "the adapters disagree on fan_in_fan_out for this module", tensor: module)
      }
      guard let downName = t.down, let upName = t.up, let a = adapter.tensors[downName], let b = adapter.tensors[upName]
      else { throw GraftError(.invalidModel, "\(adapter.label): lora_A or lora_B is missing", tensor: module) }
      let r = a.shape.first ?? 0
      let kernel = fanInFanOut ? [inF] : Array(weight.shape.dropFirst())
      guard a.shape.count == weight.shape.count, b.shape.count == weight.shape.count else {
        throw GraftError(
          .unsupported, "LoRA factors \(a.shape) and \(b.shape) for a weight \(weight.shape) are not merged",
          tensor: downName)
      }
      guard Array(a.shape.dropFirst()) == kernel else {
        throw GraftError(
          .unsupported, "grouped-convolution LoRA (lora_A \(a.shape) for a weight \(weight.shape)) is not merged yet",
          tensor: downName)
      }
      guard a.shape[1...].reduce(1, *) == inF, b.shape[0] == outF, b.shape[1] == r,
        b.shape[2...].allSatisfy({ $0 == 1 })
      else {
        throw GraftError(
          .invalidModel,
          "\(adapter.label): lora_A \(a.shape) and lora_B \(b.shape) do not fit the base weight \(weight.shape) "
            + "(expected [r, \(inF)] and [\(outF), r]\(fanInFanOut ? ", fan_in_fan_out" : ""))",
          tensor: downName)
      }
      let s = try adapter.config.settings(for: module)
      guard s.r == r else {
        throw GraftError(
          .invalidModel,
          "\(adapter.label): the configuration gives r = \(s.r)"
            + (s.keys.isEmpty ? "" : " (\(s.keys.joined(separator: ", ")))")
            + " but lora_A has \(r) rows; the scaling α/r would be wrong",
          tensor: downName)
      }
      let scaling = adapter.config.scaling(r: r, alpha: s.alpha)
      let factor = scaling * adapter.weight
      down.append(try DeployTensors.doubles(a, name: downName))
      up.append(try DeployTensors.doubles(b, name: upName).map { $0 * factor })
      terms.append(
        Term(
          adapter: adapter.label, rank: r, alpha: s.alpha, scaling: scaling, weight: adapter.weight,
          patternKeys: s.keys))
      if let m = t.magnitude {
        guard parts.count == 1 else {
          throw GraftError(
            .unsupported,
            "DoRA adapter \(adapter.label) and another adapter both target this module: merging DoRA together with "
              + "other adapters on one layer is not supported",
            tensor: module)
        }
        guard let mt = adapter.tensors[m], mt.elementCount == outF else {
          throw GraftError(.invalidModel, "DoRA magnitude must hold \(outF) values (one per output)", tensor: m)
        }
        magnitude = try DeployTensors.doubles(mt, name: m)
      }
    }
    let rank = terms.reduce(0) { $0 + $1.rank }
    // Stack the factors: down rows one term after another, up columns likewise.
    var stackedUp = [Double](repeating: 0, count: outF * rank)
    var column = 0
    for (t, u) in zip(terms, up) {
      for o in 0..<outF {
        for k in 0..<t.rank { stackedUp[o * rank + column + k] = u[o * t.rank + k] }
      }
      column += t.rank
    }
    let biasName = String(weightName.dropLast("weight".count)) + "bias"
    return ModuleMerge(
      module: module, weightName: weightName, biasName: base.contains(biasName) ? biasName : nil, outFeatures: outF,
      inFeatures: inF, fanInFanOut: fanInFanOut, terms: terms, rank: rank, down: down.flatMap { $0 }, up: stackedUp,
      magnitude: magnitude, inferredMatch: inferred)
  }
}
