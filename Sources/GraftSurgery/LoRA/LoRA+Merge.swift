public import GraftCore

extension LoRA {
  /// Options of ``merge(_:adapters:options:)``.
  public struct MergeOptions: Sendable {
    /// For adapter files holding several adapters (`lora_A.<name>.weight`): the one to merge.
    public var adapterName: String?
    /// The tool recorded in the lineage.
    public var tool = "graft"

    /// Creates default options.
    public init() {}
  }

  /// What ``merge(_:adapters:options:)`` did.
  public struct MergeReport: Sendable {
    /// The merged modules, in base order.
    public var modules: [ModuleMerge]
    /// Base tensors replaced whole by an adapter's saved copy (`modules_to_save`, trained biases).
    public var replaced: [(name: String, adapter: String, key: String, from: DType, to: DType)]
    /// Adapter keys of other adapter names, left out because one name was chosen.
    public var skipped: [String]
    /// Facts inferred rather than read (name matches).
    public var inferred: [String]

    /// The report as JSON (without the factors).
    public var json: JSONValue {
      var o = JSONObject()
      o["operation"] = .string(mergeOperation)
      o["modules"] = .array(
        modules.map { m in
          var e = JSONObject()
          e["module"] = .string(m.module)
          e["weight"] = .string(m.weightName)
          e["shape"] = .array([.integer(m.outFeatures), .integer(m.inFeatures)])
          e["dora"] = .bool(m.magnitude != nil)
          e["terms"] = .array(
            m.terms.map {
              .object(
                JSONObject([
                  ("adapter", .string($0.adapter)), ("r", .integer($0.rank)), ("alpha", .double($0.alpha)),
                  ("scaling", .double($0.scaling)), ("weight", .double($0.weight)),
                  ("patterns", .array($0.patternKeys.map(JSONValue.string))),
                ]))
            })
          if let i = m.inferredMatch { e["inferred"] = .string(i) }
          return .object(e)
        })
      o["replaced"] = .array(
        replaced.map {
          .object(
            JSONObject([
              ("name", .string($0.name)), ("adapter", .string($0.adapter)), ("key", .string($0.key)),
              ("from", .string($0.from.rawValue)),
              ("to", .string($0.to.rawValue)),
            ]))
        })
      o["skipped"] = .array(skipped.map(JSONValue.string))
      o["inferred"] = .array(inferred.map(JSONValue.string))
      return .object(o)
    }
  }

  /// Merges adapters into a base checkpoint: every targeted weight becomes a lazily computed tensor of the base's
  /// dtype (Float64 accumulation, one rounding), every saved module replaces its base tensor, everything else is
  /// kept as it is.
  ///
  /// - Throws: the parse and plan errors (unused adapter tensors, missing base weights, rank/config mismatch, refused
  ///   features by name); `invalidModel` when a module is outside its adapter's `target_modules` (peft would not
  ///   load it) or two adapters replace the same tensor.
  public static func merge(
    _ base: TensorTable, adapters: [Adapter], options: MergeOptions = MergeOptions()
  ) throws(GraftError) -> (table: TensorTable, report: MergeReport) {
    guard !adapters.isEmpty else { throw GraftError(.invalidArgument, "no adapter to merge") }
    var order: [String] = []
    var parts: [String: [(adapter: Adapter, tensors: ModuleTensors)]] = [:]
    var replacements: [String: (adapter: Adapter, key: String)] = [:]
    var skipped: [String] = []
    for adapter in adapters {
      let parsed = try parse(adapter, adapterName: options.adapterName)
      skipped += parsed.skipped
      for (module, tensors) in parsed.modules {
        try checkSelected(module, adapter)
        if parts[module] == nil { order.append(module) }
        parts[module, default: []].append((adapter, tensors))
      }
      for (name, key) in parsed.replacements {
        let target = try baseTensorName(name, in: base, adapter: adapter.label)
        if let other = replacements[target] {
          throw GraftError(
            .invalidModel, "both \(other.adapter.label) and \(adapter.label) carry a full copy of this tensor",
            tensor: target)
        }
        replacements[target] = (adapter, key)
      }
    }
    var modules: [ModuleMerge] = []
    for module in order {
      modules.append(try plan(module: module, parts: parts[module] ?? [], base: base))
    }
    var seen: [String: String] = [:]
    for m in modules {
      if let other = seen[m.weightName] {
        throw GraftError(
          .invalidModel, "modules '\(other)' and '\(m.module)' resolve to one base weight", tensor: m.weightName)
      }
      seen[m.weightName] = m.module
    }
    var out = base
    var replaced: [(name: String, adapter: String, key: String, from: DType, to: DType)] = []
    for m in modules {
      guard let w = base[m.weightName] else { continue }
      let factor = try m.magnitude.map { magnitude throws(GraftError) in
        try doraFactor(m, weight: w, magnitude: magnitude)
      }
      try out.replace(m.weightName, with: try mergedTensor(m, weight: w, factor: factor))
    }
    for e in base.entries where replacements[e.name] != nil {
      guard let (adapter, key) = replacements[e.name], let t = adapter.tensors[key] else { continue }
      guard t.shape == e.tensor.shape else {
        throw GraftError(
          .invalidModel, "\(adapter.label) saves shape \(t.shape) for a base tensor of shape \(e.tensor.shape)",
          tensor: key)
      }
      let cast = try Cast.lazily(t, to: e.tensor.dtype, options: CastOptions(), collector: CastReportCollector())
      try out.replace(e.name, with: cast)
      replaced.append((e.name, adapter.label, key, t.dtype, e.tensor.dtype))
    }
    var parameters = JSONObject()
    parameters["adapters"] = .array(
      adapters.map { .object(JSONObject([("adapter", .string($0.label)), ("weight", .double($0.weight))])) })
    parameters["modules"] = .integer(modules.count)
    parameters["replaced"] = .integer(replaced.count)
    out.lineage.append(LineageRecord(operation: mergeOperation, tool: options.tool, parameters: .object(parameters)))
    let report = MergeReport(
      modules: modules, replaced: replaced, skipped: skipped, inferred: modules.compactMap(\.inferredMatch))
    return (out, report)
  }

  /// Refuses a module its adapter's `target_modules` / `exclude_modules` do not select: peft would not inject it,
  /// so its factors would not be loaded, and merging them would give a model peft never ran.
  private static func checkSelected(_ module: String, _ adapter: Adapter) throws(GraftError) {
    if let targets = adapter.config.targetModules, !(try targets.matches(module)) {
      throw GraftError(
        .invalidModel, "\(adapter.label) has LoRA factors for this module but its target_modules does not select it",
        tensor: module)
    }
    if let excluded = adapter.config.excludeModules, try excluded.matches(module) {
      throw GraftError(
        .invalidModel, "\(adapter.label) has LoRA factors for this module but its exclude_modules excludes it",
        tensor: module)
    }
  }

  /// The base name a saved module tensor replaces (exact, else by a unique name suffix).
  private static func baseTensorName(_ name: String, in base: TensorTable, adapter: String) throws(GraftError) -> String
  {
    if base.contains(name) { return name }
    let candidates = base.names.filter { $0.hasSuffix("." + name) || name.hasSuffix("." + $0) }
    guard candidates.count == 1, let found = candidates.first else {
      throw GraftError(
        .invalidModel, "\(adapter) saves this tensor but the base has \(candidates.isEmpty ? "no" : "several") match",
        tensor: name)
    }
    return found
  }

  /// DoRA's per-output factor `m / ‖W + ΔW‖` (norm over each output's inputs), streaming the base weight by rows.
  static func doraFactor(_ m: ModuleMerge, weight: Tensor, magnitude: [Double]) throws(GraftError) -> [Double] {
    let columns = m.fanInFanOut ? m.outFeatures : m.inFeatures
    let rows = m.fanInFanOut ? m.inFeatures : m.outFeatures
    var sums = [Double](repeating: 0, count: m.outFeatures)
    let block = max(1, (1 << 20) / max(columns, 1))
    var r0 = 0
    while r0 < rows {
      let r1 = min(rows, r0 + block)
      let w = try DeployTensors.doubles(weight, elements: (r0 * columns)..<(r1 * columns), name: m.weightName)
      for r in r0..<r1 {
        for c in 0..<columns {
          let (o, i) = m.fanInFanOut ? (c, r) : (r, c)
          let v = w[(r - r0) * columns + c] + m.delta(o, i)
          sums[o] += v * v
        }
      }
      r0 = r1
    }
    return zip(magnitude, sums).map { $0 / $1.squareRoot() }
  }

  /// The merged weight, computed row block by row block when its bytes are read.
  static func mergedTensor(_ m: ModuleMerge, weight: Tensor, factor: [Double]?) throws(GraftError) -> Tensor {
    let columns = m.fanInFanOut ? m.outFeatures : m.inFeatures
    let name = m.weightName
    return try DeployTensors.produced(dtype: weight.dtype, shape: weight.shape) { range, out in
      let r0 = range.lowerBound / columns
      let r1 = (range.upperBound + columns - 1) / columns
      let w = try DeployTensors.doubles(weight, elements: (r0 * columns)..<(r1 * columns), name: name)
      for e in range {
        let (r, c) = (e / columns, e % columns)
        let (o, i) = m.fanInFanOut ? (c, r) : (r, c)
        let v = w[e - r0 * columns] + m.delta(o, i)
        out[e - range.lowerBound] = factor.map { $0[o] * v } ?? v
      }
    }
  }
}
