public import GraftCore

extension LoRA {
  /// Options of ``extract(base:tuned:options:)``.
  public struct ExtractOptions: Sendable {
    /// The rank r of every factor pair (smaller for a layer with fewer rows or columns).
    public var rank: Int
    /// The modules to extract (peft `target_modules` list rule); `nil` takes every 2-D `.weight` that differs,
    /// except embeddings (reported as inferred).
    public var targetModules: [String]?
    /// The dtype of the written factors.
    public var dtype: DType = .float32
    /// The seed of the subspace iteration for large layers.
    public var seed: UInt64 = 0

    /// Creates options.
    public init(rank: Int) { self.rank = rank }
  }

  /// One extracted module.
  public struct ExtractedModule: Sendable {
    /// The module name.
    public var module: String
    /// `[out, in]`.
    public var shape: [Int]
    /// The rank written.
    public var rank: Int
    /// The singular values kept.
    public var singularValues: [Double]
    /// `‖ΔW − B·A‖_F / ‖ΔW‖_F`, measured on the written factors in Float64.
    public var relativeResidual: Double
    /// How the SVD was computed.
    public var method: TruncatedSVD.Method
  }

  /// What ``extract(base:tuned:options:)`` found.
  public struct ExtractReport: Sendable {
    /// The extracted modules.
    public var modules: [ExtractedModule]
    /// Tensors that differ but are not represented by the adapter, with `max|Δ|`.
    public var unrepresented: [(name: String, maxAbs: Double)]
    /// What was inferred (the target choice).
    public var inferred: [String]

    /// The report as JSON.
    public var json: JSONValue {
      .object(
        JSONObject([
          ("operation", .string(extractOperation)),
          (
            "modules",
            .array(
              modules.map {
                .object(
                  JSONObject([
                    ("module", .string($0.module)), ("rank", .integer($0.rank)),
                    ("relative_residual", .double($0.relativeResidual)),
                    ("singular_values", .array($0.singularValues.map(JSONValue.double))),
                  ]))
              })
          ),
          (
            "unrepresented",
            .array(
              unrepresented.map { .object(JSONObject([("name", .string($0.name)), ("max_abs", .double($0.maxAbs))])) })
          ),
          ("inferred", .array(inferred.map(JSONValue.string))),
        ]))
    }
  }

  /// Extracts a LoRA adapter from a fine-tuned checkpoint: per targeted Linear, the rank-r truncated SVD of
  /// `ΔW = W_tuned − W_base` split as `B = U·√σ`, `A = √σ·Vᵀ` with `α = r` (scaling 1).
  ///
  /// Returns the adapter tensors in peft's naming (`base_model.model.<module>.lora_A.weight`) and its configuration.
  ///
  /// - Throws: `invalidModel` naming a tensor present in one checkpoint only or with different shapes, or a target
  ///   that is not a 2-D weight; `invalidArgument` when the rank is below 1 or nothing differs.
  public static func extract(
    base: TensorTable, tuned: TensorTable, options: ExtractOptions
  ) throws(GraftError) -> (tensors: TensorTable, config: AdapterConfig, report: ExtractReport) {
    guard options.rank >= 1 else {
      throw GraftError(.invalidArgument, "the rank must be at least 1").resolved(by: "rank")
    }
    for name in base.names where !tuned.contains(name) {
      throw GraftError(.invalidModel, "is in the base checkpoint but not in the tuned one", tensor: name)
    }
    for name in tuned.names where !base.contains(name) {
      throw GraftError(.invalidModel, "is in the tuned checkpoint but not in the base one", tensor: name)
    }
    var inferred: [String] = []
    var targets: [String] = []
    var unrepresented: [(name: String, maxAbs: Double)] = []
    for e in base.storedEntries {
      guard let t = tuned[e.name] else { continue }
      guard t.shape == e.tensor.shape else {
        throw GraftError(.invalidModel, "has shape \(e.tensor.shape) in the base and \(t.shape) tuned", tensor: e.name)
      }
      let module = e.name.hasSuffix(".weight") ? String(e.name.dropLast(".weight".count)) : nil
      let selected: Bool
      if let wanted = options.targetModules {
        selected = module.map { m in wanted.contains { m == $0 || m.hasSuffix("." + $0) } } ?? false
        if selected && e.tensor.shape.count != 2 {
          throw GraftError(.invalidModel, "is selected but is not a 2-D Linear weight", tensor: e.name)
        }
      } else {
        selected = module != nil && e.tensor.shape.count == 2 && !e.name.contains("embed")
      }
      guard e.tensor.dtype.isFloatingPoint else { continue }
      let difference = try maxDifference(e.tensor, t, name: e.name)
      if difference == 0 { continue }
      if selected { targets.append(e.name) } else { unrepresented.append((e.name, difference)) }
    }
    guard !targets.isEmpty else {
      throw GraftError(.invalidArgument, "no targeted 2-D weight differs between the checkpoints; nothing to extract")
        .resolved(by: "targetModules")
    }
    if options.targetModules == nil {
      inferred.append(
        "targets: every 2-D '.weight' that differs (\(targets.count)), embeddings excluded; choose with targetModules")
    }
    var out = TensorTable()
    var modules: [ExtractedModule] = []
    var rankPattern: [(key: String, value: Int)] = []
    for name in targets {
      guard let b = base[name], let t = tuned[name] else { continue }
      let module = String(name.dropLast(".weight".count))
      let (rows, cols) = (b.shape[0], b.shape[1])
      let wb = try DeployTensors.doubles(b, name: name)
      let wt = try DeployTensors.doubles(t, name: name)
      let delta = zip(wt, wb).map { $0 - $1 }
      let svd = try TruncatedSVD.compute(delta, rows: rows, columns: cols, rank: options.rank, seed: options.seed)
      let k = svd.rank
      var up = [Double](repeating: 0, count: rows * k)
      var down = [Double](repeating: 0, count: k * cols)
      for j in 0..<k {
        let root = svd.singularValues[j].squareRoot()
        for r in 0..<rows { up[r * k + j] = svd.u[r * k + j] * root }
        for c in 0..<cols { down[j * cols + c] = svd.v[c * k + j] * root }
      }
      // The residual of what is written: the factors rounded to the output dtype.
      let upT = try DeployTensors.stored(up, dtype: options.dtype, shape: [rows, k])
      let downT = try DeployTensors.stored(down, dtype: options.dtype, shape: [k, cols])
      let residual = try relativeResidual(
        delta, up: try DeployTensors.doubles(upT, name: name), down: try DeployTensors.doubles(downT, name: name),
        rows: rows, cols: cols, rank: k)
      try out.append(keyPrefix + module + ".lora_A.weight", downT)
      try out.append(keyPrefix + module + ".lora_B.weight", upT)
      if k != options.rank { rankPattern.append((module, k)) }
      modules.append(
        ExtractedModule(
          module: module, shape: [rows, cols], rank: k, singularValues: svd.singularValues,
          relativeResidual: residual, method: svd.method))
    }
    var config = AdapterConfig(r: options.rank, alpha: Double(options.rank))
    config.targetModules = .names(modules.map(\.module))
    config.rankPattern = rankPattern
    config.alphaPattern = rankPattern.map { ($0.key, Double($0.value)) }
    var parameters = JSONObject()
    parameters["rank"] = .integer(options.rank)
    parameters["modules"] = .integer(modules.count)
    out.lineage = tuned.lineage
    out.lineage.append(LineageRecord(operation: extractOperation, tool: "graft", parameters: .object(parameters)))
    return (out, config, ExtractReport(modules: modules, unrepresented: unrepresented, inferred: inferred))
  }

  private static func maxDifference(_ a: Tensor, _ b: Tensor, name: String) throws(GraftError) -> Double {
    let x = try DeployTensors.doubles(a, name: name)
    let y = try DeployTensors.doubles(b, name: name)
    var m = 0.0
    for (p, q) in zip(x, y) where p != q { m = max(m, abs(p - q).isNaN ? .infinity : abs(p - q)) }
    return m
  }

  private static func relativeResidual(
    _ delta: [Double], up: [Double], down: [Double], rows: Int, cols: Int, rank: Int
  ) throws(GraftError) -> Double {
    var num = 0.0
    var den = 0.0
    for r in 0..<rows {
      for c in 0..<cols {
        var v = 0.0
        for k in 0..<rank { v += up[r * rank + k] * down[k * cols + c] }
        let d = delta[r * cols + c]
        num += (d - v) * (d - v)
        den += d * d
      }
    }
    return den > 0 ? (num / den).squareRoot() : 0
  }
}
