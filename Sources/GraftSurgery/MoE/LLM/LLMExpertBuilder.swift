import GraftCore

/// Builds one sparse layer's tensors: index sets, router, and each expert's gate/up/down as lazy tensors.
struct LLMExpertBuilder {
  let table: TensorTable
  let layer: Int
  let options: LLMUpcycle.Options
  let dense: LLMDenseShape
  let width: Int

  /// The projections of an expert, in the order their random streams are numbered.
  enum Matrix: UInt64 {
    case gate = 1
    case up = 2
    case down = 3
  }

  func build() throws(GraftError) -> (LLMUpcycle.LayerPlan, [(String, Tensor)]) {
    let names = LLMUpcycle.denseNames(layer)
    guard let gate = table[names.gate], let up = table[names.up], let down = table[names.down] else {
      throw GraftError(.invalidModel, "missing dense MLP tensor", tensor: names.gate)
    }
    let e = options.experts
    let i = dense.intermediate
    let h = dense.hidden
    var gateFloats: [Float]?
    let sets: [[Int]]
    switch options.construction {
    case .copies:
      sets = Array(repeating: Array(0..<i), count: e)
    case .partition(let strategy):
      if strategy == .clustering { gateFloats = try MoEValues.floats(gate, name: names.gate) }
      sets = MoEIndexSets.partition(
        strategy: strategy, units: Array(0..<i), sizes: Array(repeating: width, count: e), w1: gateFloats ?? [],
        width: h, scores: [], graph: nil, hidden: i, seed: options.seed, layer: layer)
    }
    let scale: Float = if case .partition = options.construction { Float(e) } else { 1 }
    var dropped = Array(repeating: [Int](), count: e)
    if options.dropRatio > 0 {
      let n = Int((options.dropRatio * Double(width)).rounded(.down))
      for x in 0..<e {
        var r = SplitMix64(seed: options.seed, layer: layer, stream: 0x4452_4F50 &+ UInt64(x))
        dropped[x] = Array(r.permutation(width).prefix(n)).sorted()
      }
    }
    let stats = options.dropRatio > 0 ? try LLMDropStatistics(gate: gate, up: up, down: down, names: names) : nil
    var random = SplitMix64(seed: options.seed, layer: layer, stream: 0x524F_5554)
    if options.router == .centroid && gateFloats == nil { gateFloats = try MoEValues.floats(gate, name: names.gate) }
    let routerValues =
      options.routerRows[layer]
      ?? options.router.make(experts: e, width: h, sets: sets, w1: gateFloats ?? [], random: &random)
    let router = try MoEValues.tensor(routerValues, shape: [e, h], dtype: gate.dtype)
    var experts: [(gate: Tensor, up: Tensor, down: Tensor)] = []
    for x in 0..<e {
      let units = sets[x]
      let droppedUnits = dropped[x].map { units[$0] }
      func edit(_ m: Matrix, rows: Bool) -> LLMRowEdit {
        var edit = LLMRowEdit(
          dtype: gate.dtype, seed: options.seed, layer: layer, stream: (UInt64(x) << 8) | m.rawValue)
        edit.noise = options.noise
        if m == .down { edit.scale = scale }
        if let stats, !droppedUnits.isEmpty {
          (edit.mean, edit.std) = stats.moments(m, units: droppedUnits)
          if rows { edit.replacedRows = Set(dropped[x]) } else { edit.replacedColumns = dropped[x] }
        }
        return edit
      }
      experts.append(
        (
          try LLMExpertBuilder.rows(gate, name: names.gate, units: units, edit: edit(.gate, rows: true)),
          try LLMExpertBuilder.rows(up, name: names.up, units: units, edit: edit(.up, rows: true)),
          try LLMExpertBuilder.columns(down, name: names.down, units: units, edit: edit(.down, rows: false))
        ))
    }
    var tensors = named(router: router, experts: experts)
    if options.target == .qwen2MoE { tensors += try shared(gate: gate, up: up, down: down) }
    let plan = LLMUpcycle.LayerPlan(layer: layer, expertUnits: sets, downScale: scale, dropped: dropped)
    return (plan, tensors)
  }

  /// The layer's tensors under the target's names and layout.
  func named(router: Tensor, experts: [(gate: Tensor, up: Tensor, down: Tensor)]) -> [(String, Tensor)] {
    let base = "model.layers.\(layer)."
    switch (options.target, options.layout) {
    case (_, .v5Fused):
      let first = experts.first?.gate
      let gateUp = Tensor(
        dtype: router.dtype, shape: [experts.count, 2 * width, first?.shape[1] ?? 0],
        bytes: MoEConcatenatedBytes(experts.flatMap { [$0.gate.bytes, $0.up.bytes] }))
      let down = Tensor(
        dtype: router.dtype, shape: [experts.count, experts.first?.down.shape[0] ?? 0, width],
        bytes: MoEConcatenatedBytes(experts.map(\.down.bytes)))
      return [
        (base + "mlp.gate.weight", router), (base + "mlp.experts.gate_up_proj", gateUp),
        (base + "mlp.experts.down_proj", down),
      ]
    case (.mixtral, .v4):
      var out = [(base + "block_sparse_moe.gate.weight", router)]
      for (x, t) in experts.enumerated() {
        let p = base + "block_sparse_moe.experts.\(x)."
        out += [(p + "w1.weight", t.gate), (p + "w2.weight", t.down), (p + "w3.weight", t.up)]
      }
      return out
    case (_, .v4):
      var out = [(base + "mlp.gate.weight", router)]
      for (x, t) in experts.enumerated() {
        let p = base + "mlp.experts.\(x)."
        out += [(p + "gate_proj.weight", t.gate), (p + "up_proj.weight", t.up), (p + "down_proj.weight", t.down)]
      }
      return out
    }
  }

  /// Qwen2-MoE's shared expert (the dense MLP, or its gate and up with a zero down projection) and its gate
  /// `[1, H]`, N(0, 0.02²): never all-zero, because llama.cpp computes σ(z) as silu(z)/z.
  func shared(gate: Tensor, up: Tensor, down: Tensor) throws(GraftError) -> [(String, Tensor)] {
    let p = "model.layers.\(layer).mlp.shared_expert."
    var random = SplitMix64(seed: options.seed, layer: layer, stream: 0x5348_4152)
    let g = (0..<dense.hidden).map { _ in Float(random.normal() * 0.02) }
    let sharedDown =
      options.sharedExpert == .dense
      ? Tensor(dtype: down.dtype, shape: down.shape, bytes: moeCopy(down.bytes))
      : Self.zeros(dtype: down.dtype, shape: down.shape)
    return [
      (p + "gate_proj.weight", Tensor(dtype: gate.dtype, shape: gate.shape, bytes: moeCopy(gate.bytes))),
      (p + "up_proj.weight", Tensor(dtype: up.dtype, shape: up.shape, bytes: moeCopy(up.bytes))),
      (p + "down_proj.weight", sharedDown),
      (
        "model.layers.\(layer).mlp.shared_expert_gate.weight",
        try MoEValues.tensor(g, shape: [1, dense.hidden], dtype: gate.dtype)
      ),
    ]
  }
}

extension LLMExpertBuilder {
  /// A lazy all-zero tensor.
  static func zeros(dtype: DType, shape: [Int]) -> Tensor {
    let rows = shape.count > 1 ? shape[0] : 1
    let rowElements = shape.count > 1 ? shape.dropFirst().reduce(1, *) : (shape.first ?? 1)
    let bytes = MoERowProducedBytes(rows: rows, rowBytes: rowElements * (dtype.byteWidth ?? 4), sources: []) {
      _, buffer in buffer.initializeMemory(as: UInt8.self, repeating: 0)
    }
    return Tensor(dtype: dtype, shape: shape, bytes: bytes)
  }

  /// Rows `units` of a `[I, H]` matrix (gate, up), edited.
  static func rows(_ source: Tensor, name: String, units: [Int], edit: LLMRowEdit) throws(GraftError) -> Tensor {
    try MoESlices(source, name: name).blocks(
      experts: 1, rowSets: [units], columnSets: nil, shape: [units.count, source.shape[1]],
      edit: edit.rows(count: source.shape[1]), dropping: .afterEveryRange)
  }

  /// Columns `units` of a `[H, I]` matrix (down), edited.
  static func columns(_ source: Tensor, name: String, units: [Int], edit: LLMRowEdit) throws(GraftError) -> Tensor {
    try MoESlices(source, name: name).blocks(
      experts: 1, rowSets: nil, columnSets: [units], shape: [source.shape[0], units.count],
      edit: edit.rows(count: units.count), dropping: .afterEveryRange)
  }
}
