import GraftCore
import GraftEngine
import GraftSurgery

extension MoECheck {
  /// Gaussian rows and LayerNorm-like rows `γ⊙z + β` of the block's `norm2`.
  static func inputs(
    dense: TensorTable, blockPrefix: String, width d: Int, options: Options
  ) throws(GraftError)
    -> FloatTensor
  {
    let z = ModelCheck.randomInput(shape: [2 * options.rows, d], seed: options.seed)
    var values = z.values
    let loader = WeightLoader(table: dense)
    let gamma = try loader.optionalFloats(blockPrefix + "norm2.weight", shape: [d])
    let beta = try loader.optionalFloats(blockPrefix + "norm2.bias", shape: [d])
    for r in options.rows..<(2 * options.rows) {
      for j in 0..<d { values[r * d + j] = values[r * d + j] * (gamma?[j] ?? 1) + (beta?[j] ?? 0) }
    }
    return try FloatTensor(shape: [2 * options.rows, d], values: values)
  }

  /// `max|a − b| / max|b|`.
  static func relative(_ a: FloatTensor, _ b: FloatTensor) -> Double {
    var worst = 0.0
    var scale = 0.0
    for (x, y) in zip(a.values, b.values) {
      worst = max(worst, Double(abs(x - y)))
      scale = max(scale, Double(abs(y)))
    }
    return scale > 0 ? worst / scale : worst
  }

  /// The per-layer numeric checks.
  static func numeric(
    dense: TensorTable, moe: TensorTable, model: MoEDenseModel, layer: MoEManifest.Layer, layout: MoELayout,
    method: String, params: JSONObject, activation: Activation, options: Options
  ) throws(GraftError) -> [CheckReport.Row] {
    let b = layer.block
    let blockPrefix = "blocks.\(b)."
    let d = model.width
    let denseLoader = WeightLoader(table: dense, prefix: model.keyPrefix)
    let moeLoader = WeightLoader(table: moe, prefix: model.keyPrefix)
    guard
      let f = try DenseMLPBuilder().makeLayer(
        denseLoader, prefix: blockPrefix + "mlp.", width: d, activation: activation)
        as? DenseMLP
    else { return [] }
    let x = try inputs(dense: dense, blockPrefix: model.keyPrefix + blockPrefix, width: d, options: options)
    let y = try denseForward(f, x)
    var rows: [CheckReport.Row] = []
    let tol = options.tolerance
    switch layout {
    case .generic:
      guard
        let layerAny = try RoutedMoEBuilder().makeLayer(
          moeLoader, prefix: blockPrefix + "mlp.", width: d, activation: activation),
        let routed = layerAny as? RoutedMoELayer
      else {
        return [
          row(name: "block.\(b)", kind: .exact, value: .infinity, limit: tol, passed: false, note: "no MoE layer")
        ]
      }
      let e = routed.experts.count
      if method == "copies" {
        var worst = 0.0
        for k in 1...e {
          worst = max(worst, relative(try routed.with(gate: .softmaxTopKRenormalized, topK: k).forward(x), y))
        }
        rows.append(
          row(
            name: "block.\(b) copies", kind: .exact, value: worst, limit: tol, passed: worst <= tol,
            note: "renormalised top-k = dense for every k = 1…\(e)"))
        if routed.gate == .softmaxTopK {
          // V-MoE: y = (Σ_T g)·f per token.
          let out = try routed.forward(x)
          var predicted = y
          let routes = x.values.withUnsafeBufferPointer { xb in
            xb.baseAddress.map { routed.routes($0, rows: x.shape[0]) } ?? []
          }
          for (r, chosen) in routes.enumerated() {
            let g = chosen.reduce(Float(0)) { $0 + $1.weight }
            for j in 0..<d { predicted.values[r * d + j] *= g }
          }
          let err = relative(out, predicted)
          rows.append(
            row(
              name: "block.\(b) V-MoE gates", kind: .predicted, value: err, limit: tol, passed: err <= tol,
              note: "y = (Σ_T g)·f; distance to dense \(format(relative(out, y)))"))
        } else if routed.gate == .allOn {
          let err = relative(try routed.forward(x), y)
          rows.append(
            row(
              name: "block.\(b) all-on copies", kind: .report, value: err, limit: nil, passed: true,
              note: "all-on copies give E·f, not f"))
        }
      } else if method == "partition" {
        let all = relative(try routed.with(gate: .allOn).forward(x), y)
        rows.append(
          row(
            name: "block.\(b) partition", kind: .exact, value: all, limit: tol, passed: all <= tol,
            note: "all experts on, gate 1, b2 once: Σ_e f_Se + b2 = f"))
        if routed.gate != .allOn {
          let cov = relative(try routed.forward(x), y)
          rows.append(
            row(
              name: "block.\(b) top-\(routed.topK)", kind: .report, value: cov, limit: nil, passed: true,
              note: "\(routed.gate.rawValue): coverage error of the dropped experts (not exact)"))
        }
      } else {
        // Recycled experts each carry the dense b2: all experts on give Σ_e f_Se + E·b2.
        var sum = try routed.with(gate: .allOn).forward(x)
        let b2 = try denseLoader.optionalFloats(blockPrefix + "mlp.fc2.bias", shape: [d])
        if let b2 { subtract(b2, times: Float(e - 1), from: &sum) }
        let err = relative(sum, y)
        if layer.isPartition {
          rows.append(coverRow(block: b, error: err, tolerance: tol))
        } else {
          rows.append(
            row(
              name: "block.\(b) vs dense", kind: .report, value: err, limit: nil, passed: err.isFinite,
              note: "overlapping subsets are not a partition: Σ_e expert_e − (E−1)·b2 ≠ f (not function-preserving)"))
        }
      }
    case .jetpack, .dualPath:
      // expert_e(x) = f_{H_e}(x) + b2, checked against a sub-FFN built from the dense floats.
      let w1 = try denseLoader.floats(blockPrefix + "mlp.fc1.weight", shape: [layer.hidden, d])
      let b1 = try denseLoader.optionalFloats(blockPrefix + "mlp.fc1.bias", shape: [layer.hidden])
      let w2 = try denseLoader.floats(blockPrefix + "mlp.fc2.weight", shape: [d, layer.hidden])
      let b2 = try denseLoader.optionalFloats(blockPrefix + "mlp.fc2.bias", shape: [d])
      let experts = try recycledExperts(
        moe: moeLoader, prefix: blockPrefix + "mlp.", layout: layout, layer: layer, width: d)
      var worst = 0.0
      var distance = 0.0
      var sum = FloatTensor(zeros: y.shape)
      for (e, units) in layer.expertUnits.enumerated() where e < experts.count {
        let fc1w = submatrix(w1, rows: units, columns: Array(0..<d), rowLength: d)
        let fc2w = submatrix(w2, rows: Array(0..<d), columns: units, rowLength: layer.hidden)
        let sub = MoEExpert(
          fc1: Linear(
            weight: fc1w, bias: b1.map { bb in units.map { bb[$0] } }, outFeatures: units.count, inFeatures: d),
          fc2: Linear(weight: fc2w, bias: b2, outFeatures: d, inFeatures: units.count))
        let want = try sub.forward(x, activation: activation)
        let got = try experts[e].forward(x, activation: activation)
        worst = max(worst, relative(got, want))
        distance += relative(got, y)
        for i in sum.values.indices { sum.values[i] += got.values[i] }
      }
      rows.append(
        row(
          name: "block.\(b) experts", kind: .exact, value: worst, limit: tol, passed: worst <= tol,
          note: "expert_e(x) = f_He(x) + b2 for all \(layer.expertUnits.count) experts"))
      if layer.isPartition && layout == .jetpack, let b2 {
        subtract(b2, times: Float(layer.expertUnits.count - 1), from: &sum)
        rows.append(coverRow(block: b, error: relative(sum, y), tolerance: tol))
      } else {
        rows.append(
          row(
            name: "block.\(b) vs dense", kind: .report, value: distance / Double(max(layer.expertUnits.count, 1)),
            limit: nil, passed: true,
            note: layout == .dualPath
              ? "SpheroMoE mixes tokens: never function-preserving; mean expert distance to f"
              : "overlapping subsets: not function-preserving; mean ‖expert_e − f‖ / ‖f‖"))
      }
    }
    return rows
  }

  /// The values at `rows` × `columns` of a row-major matrix with `rowLength` columns (a sub-FFN's weights).
  static func submatrix(_ values: [Float], rows: [Int], columns: [Int], rowLength: Int) -> [Float] {
    values.withUnsafeBytes { raw in
      [Float](unsafeUninitializedCapacity: rows.count * columns.count) { out, initialized in
        RawBytes.gather(
          raw, rows: rows, columns: columns, rowLength: rowLength, size: MemoryLayout<Float>.size,
          into: UnsafeMutableRawBufferPointer(out))
        initialized = rows.count * columns.count
      }
    }
  }

  /// `y[r, :] -= n · b` for every row: removes the output bias counted once too often when experts each carry it.
  static func subtract(_ b: [Float], times n: Float, from y: inout FloatTensor) {
    let d = b.count
    for r in 0..<(y.values.count / max(d, 1)) { for j in 0..<d { y.values[r * d + j] -= n * b[j] } }
  }

  /// The exact check of a disjoint cover of the hidden units.
  static func coverRow(block b: Int, error: Double, tolerance: Double) -> CheckReport.Row {
    row(
      name: "block.\(b) cover", kind: .exact, value: error, limit: tolerance, passed: error <= tolerance,
      note: "disjoint cover: Σ_e expert_e − (E−1)·b2 = f")
  }

  static func denseForward(_ f: DenseMLP, _ x: FloatTensor) throws(GraftError) -> FloatTensor {
    try MoEExpert(fc1: f.fc1, fc2: f.fc2).forward(x, activation: f.activation)
  }

  /// The experts of a recycled (stacked) layout, in manifest order.
  static func recycledExperts(
    moe: WeightLoader, prefix: String, layout: MoELayout, layer: MoEManifest.Layer, width d: Int
  ) throws(GraftError) -> [MoEExpert] {
    var groups: [(String, String)] = []
    if layout == .jetpack {
      groups = [("experts.\(MoERecycle.ratioKey(Double(layer.expertUnits[0].count) / Double(layer.hidden))).", "fc")]
    } else {
      groups = [("core_experts.", "vit_fc"), ("univ_experts.", "vit_fc")]
    }
    var out: [MoEExpert] = []
    for (g, fc) in groups {
      guard let s = moe.shape(prefix + g + fc + "1.weight"), s.count == 3 else { continue }
      let (e, h) = (s[0], s[1])
      let w1 = prefix + g + fc + "1.weight"
      let w2 = prefix + g + fc + "2.weight"
      let b1 = try moe.optionalFloats(prefix + g + fc + "1.bias", shape: [e, h])
      let b2 = try moe.optionalFloats(prefix + g + fc + "2.bias", shape: [e, d])
      // One expert's weights at a time: the stacked tensors are never decoded whole.
      for i in 0..<e {
        out.append(
          MoEExpert(
            fc1: Linear(
              weight: try moe.floats(w1, shape: [e, h, d], elements: (i * h * d)..<((i + 1) * h * d)),
              bias: b1.map { Array($0[(i * h)..<((i + 1) * h)]) }, outFeatures: h, inFeatures: d),
            fc2: Linear(
              weight: try moe.floats(w2, shape: [e, d, h], elements: (i * h * d)..<((i + 1) * h * d)),
              bias: b2.map { Array($0[(i * d)..<((i + 1) * d)]) }, outFeatures: d, inFeatures: h)))
      }
    }
    return out
  }

  /// The whole-model check: exact constructions must reproduce the dense outputs; others report their distance.
  static func wholeModel(
    dense: TensorTable, moe: TensorTable, layout: MoELayout, method: String, params: JSONObject, options: Options
  ) throws(GraftError) -> [CheckReport.Row] {
    guard layout != .jetpack else {
      return [
        row(
          name: "model", kind: .report, value: .nan, limit: nil, passed: true,
          note: "the simplified Jetpack layout has no router (the target model adds its own): checked per expert")
      ]
    }
    var modelOptions = options.model
    let gate = params["gate"]?.stringValue.flatMap(MoEGate.init(rawValue:))
    let exactGate: MoEGate? =
      method == "copies" ? .softmaxTopKRenormalized : (method == "partition" ? .allOn : nil)
    var rows: [CheckReport.Row] = []
    var check = CheckOptions(batch: 1, seed: options.seed, atol: 1e-5, rtol: 1e-4, compareHiddenStates: false)
    if let exactGate {
      modelOptions.feedForwardBuilders = MoEBuilders.all(gate: exactGate)
      check.model = modelOptions
      let report = try ModelCheck.compare(before: dense, after: moe, options: check)
      let worst = report.rows.compactMap { $0.number("relative") }.max() ?? .infinity
      rows.append(
        row(
          name: "model (\(exactGate.rawValue))", kind: .exact, value: worst, limit: 1e-4, passed: report.passed,
          note: "whole ViT through the engine, output and pooled features vs dense"))
    }
    if exactGate != gate || exactGate == nil {
      modelOptions.feedForwardBuilders = MoEBuilders.all()
      check.model = modelOptions
      let report = try ModelCheck.compare(before: dense, after: moe, options: check)
      let worst = report.rows.compactMap { $0.number("relative") }.max() ?? .infinity
      let finite = report.rows.allSatisfy { ($0.number("max_abs") ?? .infinity).isFinite }
      rows.append(
        row(
          name: "model (\(gate?.rawValue ?? (layout == .dualPath ? "SpheroMoE" : "configured")))", kind: .report,
          value: worst, limit: nil, passed: finite,
          note: "as configured: not function-preserving; relative distance of the outputs"))
    }
    return rows
  }
}
