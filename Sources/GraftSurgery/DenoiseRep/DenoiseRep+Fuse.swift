public import GraftCore

extension DenoiseRep {
  /// Computes `C[m×n] = A[m×k]·B[k×n]` (row-major) from float32 operands with at least float64-grade accuracy on
  /// the result's scale.
  ///
  /// The fusion only needs `W·W_d` accurate to float32 precision *after* it is scaled by `c1 ≈ 3e-3`, so a float32
  /// GEMM whose partial sums are carried in float64 is enough. GraftEngine provides a fast one
  /// (`DenoiseRepKernels.product`); without one the pass uses a portable float64 loop.
  public typealias MatrixProduct =
    @Sendable (
      _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ m: Int, _ k: Int, _ n: Int,
      _ c: UnsafeMutablePointer<Double>
    ) -> Void

  /// How to fuse.
  public struct FuseOptions: Sendable {
    /// Which bias terms to include.
    public var mode: Mode = .mean
    /// T per layer prefix, overriding the traversal rule for the layers it names.
    public var tMap: [String: Int] = [:]
    /// N for the traversal rule; `nil` means the number of wrapped layers.
    public var layerCount: Int?
    /// The seed of the `compat` mode's normal draws.
    public var seed: UInt64 = 0
    /// Explicit z vectors per layer prefix for the `compat` mode (length = input width), instead of seeded draws.
    public var noise: [String: [Double]] = [:]
    /// Fuse even when the table carries Graft's fused marker.
    public var assumeUnfused = false
    /// Apply the public code's (non-equivalent) conv fusion instead of refusing `DenoiseConv2d` layers.
    public var compatConv = false
    /// Keep `dm.*`, `time_mlp.*` and the buffers, as the public code does (the output is then marked fused).
    public var keepLeftovers = false
    /// The float32 product kernel for F32/F16/BF16 weights; `nil` computes `W·W_d` in float64 (slow for big layers).
    public var product: MatrixProduct?
    /// The tool name for the lineage record.
    public var tool = "graft"
    /// Creates default options.
    public init() {}
  }

  /// What fusing one layer did.
  public struct FusedLayer: Sendable {
    /// The layer.
    public var layer: Layer
    /// The constants used.
    public var constants: Constants
    /// Whether the T came from the user's map rather than the traversal rule.
    public var tFromMap: Bool
    /// The dtype of the fused weight (the stored dtype).
    public var dtype: DType
    /// Whether the layer had no bias and gained one.
    public var biasAdded: Bool
    /// The largest |c1·W·W_d·e(T)| over outputs (`exact` only).
    public var timeTermMax: Double?
    /// The largest |c2·W·z| over outputs (`compat` only).
    public var noiseTermMax: Double?
    /// The seed of the z draw (`compat` with a seeded draw only).
    public var seed: UInt64?
  }

  /// What ``fuse(_:options:)`` did.
  public struct FuseReport: Sendable {
    /// The mode.
    public var mode: Mode
    /// The fused layers, in table order.
    public var layers: [FusedLayer]
    /// The names removed (the wrappers' leftovers).
    public var removed: [String]
    /// The bytes of the removed tensors.
    public var removedBytes: Int
    /// Things the user must know (new bias keys, conv compat fusion).
    public var warnings: [String]

    /// The T map used, prefix → T.
    public var tMap: [String: Int] {
      Dictionary(layers.map { ($0.layer.prefix, $0.constants.t) }, uniquingKeysWith: { a, _ in a })
    }

    /// The report as JSON: mode, constants per layer, removed keys and bytes, warnings.
    public var json: JSONValue {
      var o = JSONObject()
      o["operation"] = .string(DenoiseRep.fuseOperation)
      o["mode"] = .string(mode.rawValue)
      o["layers"] = .array(
        layers.map { l in
          var e = JSONObject()
          e["prefix"] = .string(l.layer.prefix)
          e["kind"] = .string(l.layer.kind.rawValue)
          e["constants"] = l.constants.json
          e["t_source"] = .string(l.tFromMap ? "t-map" : "traversal rule")
          e["dtype"] = .string(l.dtype.rawValue)
          e["bias_added"] = .bool(l.biasAdded)
          if let v = l.timeTermMax { e["time_term_max"] = .double(v) }
          if let v = l.noiseTermMax { e["noise_term_max"] = .double(v) }
          if let s = l.seed { e["seed"] = .string(String(s)) }
          return .object(e)
        })
      o["removed"] = .array(removed.map(JSONValue.string))
      o["removed_bytes"] = .integer(removedBytes)
      o["warnings"] = .array(warnings.map(JSONValue.string))
      return .object(o)
    }
  }

  /// Fuses every wrapped layer into its Linear and drops the leftovers.
  ///
  /// - Throws: `invalidModel` when the table has no DenoiseRep layers or a layer's tensors are missing or misshapen
  ///   (the error names the tensor and the expected shape); `invalidArgument` for a T outside the schedule, a t-map
  ///   naming no layer, an input marked as fused (unless ``FuseOptions/assumeUnfused``), or a conv layer (unless
  ///   ``FuseOptions/compatConv``); `unsupportedDType` for integer weights.
  public static func fuse(
    _ table: TensorTable, options: FuseOptions = FuseOptions()
  ) throws(GraftError)
    -> (table: TensorTable, report: FuseReport)
  {
    let layers = try findLayers(in: table)
    guard !layers.isEmpty else {
      let marked = fusedEvidence(in: table).map { " It looks fused already: \($0)." } ?? ""
      throw GraftError(
        .invalidModel,
        "no DenoiseRep layers found: expected '<layer>.dm.weight', '<layer>.time_mlp.*' and the schedule buffers "
          + "('<layer>.alphas', …) next to a layer's weight." + marked)
    }
    if !options.assumeUnfused, let evidence = fusedEvidence(in: table) {
      throw GraftError(
        .invalidArgument,
        "the checkpoint looks already fused (\(evidence)); fusing again applies a second denoising step. Use "
          + "DenoiseRep.strip for fused checkpoints, or assumeUnfused if the marker is wrong")
    }
    let byPrefix = Set(layers.map(\.prefix))
    for (name, _) in options.tMap where !byPrefix.contains(normalized(name)) {
      throw GraftError(
        .invalidArgument,
        "the T map names '\(name)', which is not a DenoiseRep layer; layers are "
          + layers.prefix(4).map { "'\($0.prefix)'" }.joined(separator: ", ") + (layers.count > 4 ? ", …" : ""))
    }
    let userMap = Dictionary(options.tMap.map { (normalized($0.key), $0.value) }, uniquingKeysWith: { _, b in b })
    let ruleMap = traversalTimesteps(for: layers, in: table, layerCount: options.layerCount)
    for layer in layers where layer.kind == .conv2d && !options.compatConv {
      throw GraftError(
        .invalidArgument,
        "is a DenoiseConv2d; the public conv fusion is not an equivalence (it convolves the kernel as if it were an "
          + "image, adds the dm bias to every tap, drops c3 and scales the conv bias by c2·c3 ≈ 0.012: 13.4 % "
          + "relative error measured against denoise-then-conv). Refusing; compatConv reproduces the public "
          + "code's result anyway", tensor: layer.prefix)
    }

    var out = table
    var fused: [FusedLayer] = []
    var warnings: [String] = []
    var newBiases: [(after: String, name: String)] = []
    for layer in layers {
      let t = userMap[layer.prefix] ?? ruleMap[layer.prefix] ?? layers.count
      let constants = try self.constants(for: layer, t: t, in: table)
      var record: FusedLayer
      switch layer.kind {
      case .linear:
        let result = try fuseLinear(layer, constants: constants, table: table, options: options)
        try out.replace(layer.name("weight"), with: result.weight)
        if layer.hasBias {
          try out.replace(layer.name("bias"), with: result.bias)
        } else {
          try out.append(layer.name("bias"), result.bias)
          newBiases.append((layer.name("weight"), layer.name("bias")))
          warnings.append(
            "'\(layer.name("bias"))' is new: the Linear had no bias and the fused one needs b' = −c1·W·b_d; the "
              + "target architecture must accept a bias there")
        }
        record = FusedLayer(
          layer: layer, constants: constants, tFromMap: userMap[layer.prefix] != nil, dtype: result.weight.dtype,
          biasAdded: !layer.hasBias, timeTermMax: result.timeTermMax, noiseTermMax: result.noiseTermMax,
          seed: result.seeded ? options.seed : nil)
      case .conv2d:
        let result = try fuseConvCompat(layer, constants: constants, table: table)
        try out.replace(layer.name("weight"), with: result.weight)
        if let bias = result.bias { try out.replace(layer.name("bias"), with: bias) }
        record = FusedLayer(
          layer: layer, constants: constants, tFromMap: userMap[layer.prefix] != nil, dtype: result.weight.dtype,
          biasAdded: false, timeTermMax: nil, noiseTermMax: nil, seed: nil)
        warnings.append(
          "'\(layer.prefix)' was fused with the public DenoiseConv2d formula (compatConv): the result is NOT "
            + "equivalent to denoise-then-conv (≈ 13 % relative error; the bias is scaled by c2·c3 ≈ 0.012)")
      }
      fused.append(record)
    }

    var removed: [String] = []
    var removedBytes = 0
    if !options.keepLeftovers {
      let drop = Set(layers.flatMap(\.leftovers))
      for e in table.entries where drop.contains(e.name) {
        removed.append(e.name)
        if e.aliasOf == nil { removedBytes += e.tensor.byteCount }
      }
      out.removeAll { drop.contains($0.name) }
    }
    if !newBiases.isEmpty {
      // New biases go right after their weights, where PyTorch's state dict would have them.
      var rank: [String: Double] = [:]
      for (i, name) in out.names.enumerated() { rank[name] = Double(i) }
      for b in newBiases { rank[b.name] = (rank[b.after] ?? 0) + 0.5 }
      out.sort { (rank[$0.name] ?? 0) < (rank[$1.name] ?? 0) }
    }

    let report = FuseReport(
      mode: options.mode, layers: fused, removed: removed, removedBytes: removedBytes, warnings: warnings)
    let tMapText = JSONValue.object(JSONObject(sorting: report.tMap.mapValues { JSONValue.integer($0) })).serialized()
    out.metadata[fusedMarkerKey] = .string("true")
    out.metadata["denoiserep_mode"] = .string(options.mode.rawValue)
    out.metadata["denoiserep_t_map"] = .string(tMapText)
    var parameters = JSONObject()
    parameters["mode"] = .string(options.mode.rawValue)
    parameters["t_map"] = .object(JSONObject(sorting: report.tMap.mapValues { JSONValue.integer($0) }))
    if options.mode == .compat { parameters["seed"] = .string(String(options.seed)) }
    parameters["layers"] = .integer(fused.count)
    parameters["removed_tensors"] = .integer(removed.count)
    out.lineage.append(LineageRecord(operation: fuseOperation, tool: options.tool, parameters: .object(parameters)))
    return (out, report)
  }

  /// The `compat` mode's seeded z for a layer: `count` standard normal values from the seed and the layer's name.
  ///
  /// Each layer draws independently, so reordering the table or fusing a subset does not change any layer's z.
  public static func noiseVector(layer: String, seed: UInt64, count: Int) -> [Double] {
    var rng = SplitMix64(seed: seed, layer: layer)
    return rng.polarNormals(count)
  }

  /// A layer name from the user with any trailing dot removed.
  static func normalized(_ name: String) -> String { name.hasSuffix(".") ? String(name.dropLast()) : name }
}
