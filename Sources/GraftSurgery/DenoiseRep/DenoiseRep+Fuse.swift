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
          + "'graft denoiserep strip' for fused checkpoints, or --assume-unfused if the marker is wrong")
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
          + "relative error measured against denoise-then-conv). Refusing; --compat-conv reproduces the public "
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
          "'\(layer.prefix)' was fused with the public DenoiseConv2d formula (--compat-conv): the result is NOT "
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

  struct LinearResult {
    var weight: Tensor
    var bias: Tensor
    var timeTermMax: Double?
    var noiseTermMax: Double?
    var seeded: Bool
  }

  /// Folds one step into a Linear: `W' = c3·W − c1·W·W_d`, `b' = b + W·v` with `v = −c1·(b_d [+ W_d·e]) [+ c2·z]`.
  static func fuseLinear(
    _ layer: Layer, constants k: Constants, table: TensorTable, options: FuseOptions
  )
    throws(GraftError) -> LinearResult
  {
    let out = layer.outFeatures
    let inp = layer.inFeatures
    let wName = layer.name("weight")
    guard let wTensor = table[wName] else { throw GraftError(.tensorNotFound, "missing tensor", tensor: wName) }
    let dmName = layer.name("dm.weight")
    guard let dmTensor = table[dmName] else {
      throw GraftError(
        .invalidModel, "missing tensor; expected the noise predictor's weight [\(inp), \(inp)]", tensor: dmName)
    }
    guard dmTensor.shape == [inp, inp] else {
      throw GraftError(
        .invalidModel,
        "has shape \(dmTensor.shape) but '\(wName)' is \(wTensor.shape); the noise predictor acts on the Linear's "
          + "input, so expected [\(inp), \(inp)]", tensor: dmName)
    }
    let bd = try vector(layer.name("dm.bias"), count: inp, in: table)
    let bias: [Double]? = layer.hasBias ? try vector(layer.name("bias"), count: out, in: table) : nil
    try DenoiseRepValues.checkDType(wTensor, name: wName)

    // The time MLP is read only in `exact`: in the other modes it is as much data as the model itself, for nothing.
    let hasTimeMLP = options.mode.includesTimeTerm
    let useFloatProduct = options.product != nil && wTensor.dtype != .float64 && dmTensor.dtype != .float64
    let wdDouble = hasTimeMLP || !useFloatProduct ? try DenoiseRepValues.doubles(dmTensor, name: dmName) : []
    var wdE: [Double]?
    if hasTimeMLP {
      let e = try timeEmbedding(for: layer, t: k.t, in: table)
      var r = [Double](repeating: 0, count: inp)
      for i in 0..<inp {
        var acc = 0.0
        for j in 0..<inp { acc += wdDouble[i * inp + j] * e[j] }
        r[i] = acc
      }
      wdE = r
    }
    var z: [Double]?
    var seeded = false
    if options.mode.includesNoise {
      if let supplied = options.noise[layer.prefix] {
        guard supplied.count == inp else {
          throw GraftError(
            .invalidArgument, "the supplied z has \(supplied.count) values; expected \(inp)", tensor: layer.prefix)
        }
        z = supplied
      } else {
        z = noiseVector(layer: layer.prefix, seed: options.seed, count: inp)
        seeded = true
      }
    }
    // v is what the fused bias adds through W: b' = b + W·v.
    var v = [Double](repeating: 0, count: inp)
    var timeV = [Double](repeating: 0, count: inp)
    var noiseV = [Double](repeating: 0, count: inp)
    for i in 0..<inp {
      timeV[i] = -k.c1 * (wdE?[i] ?? 0)
      noiseV[i] = k.c2 * (z?[i] ?? 0)
      v[i] = -k.c1 * bd[i] + (options.mode.includesTimeTerm ? timeV[i] : 0) + noiseV[i]
    }

    let fusedWeight: [Double]
    var newBias = [Double](repeating: 0, count: out)
    var timeMax = 0.0
    var noiseMax = 0.0
    func rowTerms(_ row: (Int) -> Double, _ o: Int) {
      var acc = bias?[o] ?? 0
      var tAcc = 0.0
      var nAcc = 0.0
      for i in 0..<inp {
        let w = row(i)
        acc += w * v[i]
        tAcc += w * timeV[i]
        nAcc += w * noiseV[i]
      }
      newBias[o] = acc
      timeMax = max(timeMax, abs(tAcc))
      noiseMax = max(noiseMax, abs(nAcc))
    }
    if useFloatProduct, let product = options.product {
      let w = try DenoiseRepValues.floats(wTensor, name: wName)
      let wd = try DenoiseRepValues.floats(dmTensor, name: dmName)
      var p = [Double](repeating: 0, count: out * inp)
      w.withUnsafeBufferPointer { wb in
        wd.withUnsafeBufferPointer { db in
          p.withUnsafeMutableBufferPointer { pb in
            guard let wp = wb.baseAddress, let dp = db.baseAddress, let cp = pb.baseAddress else { return }
            product(wp, dp, out, inp, inp, cp)
          }
        }
      }
      for idx in 0..<(out * inp) { p[idx] = k.c3 * Double(w[idx]) - k.c1 * p[idx] }
      fusedWeight = p
      for o in 0..<out { rowTerms({ Double(w[o * inp + $0]) }, o) }
    } else {
      let w = try DenoiseRepValues.doubles(wTensor, name: wName)
      var p = referenceProduct(w, wdDouble, m: out, k: inp, n: inp)
      for idx in 0..<(out * inp) { p[idx] = k.c3 * w[idx] - k.c1 * p[idx] }
      fusedWeight = p
      for o in 0..<out { rowTerms({ w[o * inp + $0] }, o) }
    }
    let biasDType = layer.hasBias ? (table[layer.name("bias")]?.dtype ?? wTensor.dtype) : wTensor.dtype
    return LinearResult(
      weight: DenoiseRepValues.tensor(fusedWeight, dtype: wTensor.dtype, shape: wTensor.shape),
      bias: DenoiseRepValues.tensor(newBias, dtype: biasDType, shape: [out]),
      timeTermMax: hasTimeMLP ? timeMax : nil,
      noiseTermMax: options.mode.includesNoise ? noiseMax : nil, seeded: seeded)
  }

  /// `A[m×k]·B[k×n]` in float64, row by row (the portable fallback and the F64 path).
  static func referenceProduct(_ a: [Double], _ b: [Double], m: Int, k: Int, n: Int) -> [Double] {
    var c = [Double](repeating: 0, count: m * n)
    c.withUnsafeMutableBufferPointer { cb in
      a.withUnsafeBufferPointer { ab in
        b.withUnsafeBufferPointer { bb in
          guard let cp = cb.baseAddress, let ap = ab.baseAddress, let bp = bb.baseAddress else { return }
          for i in 0..<m {
            let row = cp + i * n
            for p in 0..<k {
              let x = ap[i * k + p]
              if x == 0 { continue }
              let brow = bp + p * n
              for j in 0..<n { row[j] += x * brow[j] }
            }
          }
        }
      }
    }
    return c
  }

  /// Applies the public `DenoiseConv2d` fusion, which is not an equivalence (reachable only with `compatConv`).
  ///
  /// `W' = W − c1·conv2d(W, W_d, b_d)` with stride 1 and 'same' padding, `b' = c2·c3·b`.
  static func fuseConvCompat(
    _ layer: Layer, constants k: Constants, table: TensorTable
  ) throws(GraftError)
    -> (weight: Tensor, bias: Tensor?)
  {
    let wName = layer.name("weight")
    let dmName = layer.name("dm.weight")
    guard let wTensor = table[wName], let dmTensor = table[dmName] else {
      throw GraftError(.invalidModel, "missing tensor; expected the conv noise predictor's weight", tensor: dmName)
    }
    let s = wTensor.shape
    let (o, c, h, w) = (s[0], s[1], s[2], s[3])
    let d = dmTensor.shape
    guard o == c, d.count == 4, d[0] == c, d[1] == c, d[2] % 2 == 1, d[3] % 2 == 1 else {
      throw GraftError(
        .invalidModel,
        "has shape \(d); the public conv fusion only type-checks for [\(c), \(c), k, k] with k odd (in = out "
          + "channels, 'same' padding)", tensor: dmName)
    }
    let wv = try DenoiseRepValues.doubles(wTensor, name: wName)
    let dv = try DenoiseRepValues.doubles(dmTensor, name: dmName)
    let bd = try vector(layer.name("dm.bias"), count: c, in: table)
    let (kh, kw) = (d[2], d[3])
    var result = wv
    for n in 0..<o {
      for co in 0..<c {
        for y in 0..<h {
          for x in 0..<w {
            var acc = bd[co]
            for ci in 0..<c {
              for dy in 0..<kh {
                let yy = y + dy - kh / 2
                if yy < 0 || yy >= h { continue }
                for dx in 0..<kw {
                  let xx = x + dx - kw / 2
                  if xx < 0 || xx >= w { continue }
                  acc += wv[((n * c + ci) * h + yy) * w + xx] * dv[((co * c + ci) * kh + dy) * kw + dx]
                }
              }
            }
            let idx = ((n * c + co) * h + y) * w + x
            result[idx] = wv[idx] - k.c1 * acc
          }
        }
      }
    }
    var bias: Tensor?
    if layer.hasBias, let bTensor = table[layer.name("bias")] {
      let b = try vector(layer.name("bias"), count: o, in: table)
      bias = DenoiseRepValues.tensor(b.map { k.c2 * k.c3 * $0 }, dtype: bTensor.dtype, shape: [o])
    }
    return (DenoiseRepValues.tensor(result, dtype: wTensor.dtype, shape: s), bias)
  }
}
