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
          LLMExpertBuilder.rows(gate, units: units, edit: edit(.gate, rows: true)),
          LLMExpertBuilder.rows(up, units: units, edit: edit(.up, rows: true)),
          LLMExpertBuilder.columns(down, units: units, edit: edit(.down, rows: false))
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
        bytes: LLMConcatenatedBytes(experts.flatMap { [$0.gate.bytes, $0.up.bytes] }))
      let down = Tensor(
        dtype: router.dtype, shape: [experts.count, experts.first?.down.shape[0] ?? 0, width],
        bytes: LLMConcatenatedBytes(experts.map(\.down.bytes)))
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
      ? Tensor(dtype: down.dtype, shape: down.shape, bytes: llmCopy(down.bytes))
      : Self.zeros(dtype: down.dtype, shape: down.shape)
    return [
      (p + "gate_proj.weight", Tensor(dtype: gate.dtype, shape: gate.shape, bytes: llmCopy(gate.bytes))),
      (p + "up_proj.weight", Tensor(dtype: up.dtype, shape: up.shape, bytes: llmCopy(up.bytes))),
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
    let bytes = LLMRowProducedBytes(rows: rows, rowBytes: rowElements * (dtype.byteWidth ?? 4), sources: []) {
      _, buffer in buffer.initializeMemory(as: UInt8.self, repeating: 0)
    }
    return Tensor(dtype: dtype, shape: shape, bytes: bytes)
  }

  /// Whether `units` is `0..<n` (sets are ascending and unique).
  static func isEverything(_ units: [Int], _ n: Int) -> Bool {
    units.count == n && units.first == 0 && units.last == n - 1
  }

  /// Rows `units` of a `[I, H]` matrix (gate, up), edited.
  static func rows(_ source: Tensor, units: [Int], edit: LLMRowEdit) -> Tensor {
    let shape = [units.count, source.shape[1]]
    if isEverything(units, source.shape[0]) && edit.isIdentity {
      return Tensor(dtype: source.dtype, shape: shape, bytes: llmCopy(source.bytes))
    }
    let src = source.bytes
    let count = source.shape[1]
    let rowBytes = count * (source.dtype.byteWidth ?? 0)
    let bytes = LLMRowProducedBytes(rows: units.count, rowBytes: rowBytes, sources: [src]) { r, buffer in
      let u = units[r]
      try src.copyBytes(in: (u * rowBytes)..<((u + 1) * rowBytes), into: buffer)
      try edit.apply(row: r, buffer, count: count)
    }
    return Tensor(dtype: source.dtype, shape: shape, bytes: bytes)
  }

  /// Columns `units` of a `[H, I]` matrix (down), edited.
  static func columns(_ source: Tensor, units: [Int], edit: LLMRowEdit) -> Tensor {
    let rows = source.shape[0]
    let all = source.shape[1]
    let shape = [rows, units.count]
    if isEverything(units, all) && edit.isIdentity {
      return Tensor(dtype: source.dtype, shape: shape, bytes: llmCopy(source.bytes))
    }
    let src = source.bytes
    let size = source.dtype.byteWidth ?? 0
    let whole = isEverything(units, all)
    let bytes = LLMRowProducedBytes(rows: rows, rowBytes: units.count * size, sources: [src]) { r, buffer in
      let range = (r * all * size)..<((r + 1) * all * size)
      if whole {
        try src.copyBytes(in: range, into: buffer)
      } else {
        let row = UnsafeMutableRawBufferPointer.allocate(byteCount: all * size, alignment: 64)
        defer { row.deallocate() }
        try src.copyBytes(in: range, into: row)
        gather(row, units: units, size: size, into: buffer)
      }
      try edit.apply(row: r, buffer, count: units.count)
    }
    return Tensor(dtype: source.dtype, shape: shape, bytes: bytes)
  }

  /// `dst[n] = src[units[n]]` for elements of `size` bytes.
  static func gather(
    _ src: UnsafeMutableRawBufferPointer, units: [Int], size: Int, into dst: UnsafeMutableRawBufferPointer
  ) {
    guard let s = src.baseAddress, let d = dst.baseAddress else { return }
    switch size {
    case 2:
      let a = s.assumingMemoryBound(to: UInt16.self)
      let b = d.assumingMemoryBound(to: UInt16.self)
      for (n, u) in units.enumerated() { b[n] = a[u] }
    case 4:
      let a = s.assumingMemoryBound(to: UInt32.self)
      let b = d.assumingMemoryBound(to: UInt32.self)
      for (n, u) in units.enumerated() { b[n] = a[u] }
    default:
      for (n, u) in units.enumerated() { (d + n * size).copyMemory(from: s + u * size, byteCount: size) }
    }
  }
}
