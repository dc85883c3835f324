public import GraftCore

extension Reparam {
  /// A BN's per-channel scale `s = γ/√(σ² + ε)` and shift `β − μ·s`, in Float64.
  public static func affine(
    _ norm: BatchNorm, in table: TensorTable, epsilon: Double
  ) throws(GraftError) -> (scale: [Double], shift: [Double]) {
    let p = norm.prefix + "."
    let mean = try DeployTensors.doubles(table, p + "running_mean")
    let variance = try DeployTensors.doubles(table, p + "running_var")
    let gamma =
      norm.affine ? try DeployTensors.doubles(table, p + "weight") : [Double](repeating: 1, count: norm.channels)
    let beta = norm.affine ? try DeployTensors.doubles(table, p + "bias") : [Double](repeating: 0, count: norm.channels)
    if let bad = variance.firstIndex(where: { !($0 + epsilon > 0) }) {
      throw GraftError(
        .invalidModel, "running_var[\(bad)] = \(variance[bad]) makes σ² + ε ≤ 0", tensor: p + "running_var")
    }
    var scale = [Double](repeating: 0, count: norm.channels)
    var shift = [Double](repeating: 0, count: norm.channels)
    for c in 0..<norm.channels {
      scale[c] = gamma[c] / (variance[c] + epsilon).squareRoot()
      shift[c] = beta[c] - mean[c] * scale[c]
    }
    return (scale, shift)
  }

  /// The block's single kernel and bias: every branch folded with its BN and placed centred in the block's kernel.
  public static func fold(
    _ block: Block, in table: TensorTable, epsilon: Double
  ) throws(GraftError) -> (weight: [Double], bias: [Double]) {
    let out = block.shape[0]
    let perGroup = block.shape[1]
    let kernel = Array(block.shape.dropFirst(2))
    let area = kernel.reduce(1, *)
    var weight = [Double](repeating: 0, count: out * perGroup * area)
    var bias = [Double](repeating: 0, count: out)
    for b in block.branches {
      let (scale, shift) = try affine(b.norm, in: table, epsilon: epsilon)
      for o in 0..<out { bias[o] += shift[o] }
      guard let name = b.weight else {
        // Identity: input channel o feeds output o through the centre tap of its group's slot o mod (in/groups).
        let centre = offset(of: kernel.map { $0 / 2 }, in: kernel)
        for o in 0..<out { weight[(o * perGroup + o % perGroup) * area + centre] += scale[o] }
        continue
      }
      let w = try DeployTensors.doubles(table, name)
      if let biasName = b.bias {
        let convBias = try DeployTensors.doubles(table, biasName)
        for o in 0..<out { bias[o] += scale[o] * convBias[o] }
      }
      let small = b.kernel
      let smallArea = small.reduce(1, *)
      let pad = zip(kernel, small).map { ($0 - $1) / 2 }
      for o in 0..<out {
        for c in 0..<perGroup {
          for t in 0..<smallArea {
            let position = coordinates(of: t, in: small)
            let target = offset(of: zip(position, pad).map(+), in: kernel)
            weight[(o * perGroup + c) * area + target] += scale[o] * w[(o * perGroup + c) * smallArea + t]
          }
        }
      }
    }
    return (weight, bias)
  }

  private static func coordinates(of index: Int, in shape: [Int]) -> [Int] {
    var rest = index
    var out = [Int](repeating: 0, count: shape.count)
    for d in shape.indices.reversed() {
      out[d] = rest % shape[d]
      rest /= shape[d]
    }
    return out
  }

  private static func offset(of position: [Int], in shape: [Int]) -> Int {
    zip(position, shape).reduce(0) { $0 * $1.1 + $1.0 }
  }

  /// Folds every RepVGG / ACB block, and with ``Options/foldBatchNorm`` every Conv/Linear + BN pair, into one
  /// weight and bias (in the block's weight dtype; the branches' and BNs' tensors are dropped).
  ///
  /// - Throws: `invalidArgument` naming `foldBatchNorm` when there is nothing to fold; the discovery errors
  ///   (mismatched channels, a branch without its BN, refused ACB variants).
  public static func reparameterize(
    _ table: TensorTable, options: Options = Options()
  ) throws(GraftError) -> (table: TensorTable, report: Report) {
    let (epsilon, source) = epsilon(table, options)
    let norms = try batchNorms(in: table)
    var blocks = try namedBlocks(in: table, norms: norms)
    let used = Set(blocks.flatMap { $0.branches.map(\.norm.prefix) })
    let remaining = table.names.compactMap { n -> BatchNorm? in
      guard n.hasSuffix(".running_mean") else { return nil }
      let p = String(n.dropLast(".running_mean".count))
      return used.contains(p) ? nil : norms[p]
    }
    var kept = remaining.map(\.prefix)
    if options.foldBatchNorm {
      let consumed = Set(blocks.flatMap { $0.branches.compactMap(\.weight) })
      let found = try pairs(in: table, norms: remaining, consumed: consumed)
      blocks += found.blocks
      kept = found.kept
    }
    guard !blocks.isEmpty else {
      throw GraftError(
        .invalidArgument,
        options.foldBatchNorm
          ? "no RepVGG / ACB block and no Conv + BatchNorm pair found"
          : "no RepVGG or ACB block found; to fold plain Conv + BatchNorm pairs, ask for BatchNorm folding"
      ).resolved(by: "foldBatchNorm")
    }
    var drop = Set<String>()
    var inserts: [String: [(String, Tensor)]] = [:]
    for b in blocks {
      guard let main = b.branches.first?.weight, let dtype = table[main]?.dtype else { continue }
      let (w, bias) = try fold(b, in: table, epsilon: epsilon)
      let names = b.branches.flatMap { br in [br.weight, br.bias].compactMap { $0 } + br.norm.names(in: table) }
      drop.formUnion(names)
      let first = table.names.first { names.contains($0) } ?? main
      inserts[first, default: []] += [
        (b.outputWeight, try DeployTensors.stored(w, dtype: dtype, shape: b.shape)),
        (b.outputBias, try DeployTensors.stored(bias, dtype: dtype, shape: [b.shape[0]])),
      ]
    }
    var out = try DeployTensors.rebuilt(table, dropping: drop, inserting: inserts)
    var parameters = JSONObject()
    parameters["blocks"] = .integer(blocks.count)
    parameters["epsilon"] = .double(epsilon)
    out.lineage.append(LineageRecord(operation: operation, tool: options.tool, parameters: .object(parameters)))
    let removed = table.names.filter { drop.contains($0) && !out.contains($0) }
    return (
      out,
      Report(blocks: blocks, epsilon: epsilon, epsilonSource: source, keptBatchNorms: kept, removed: removed)
    )
  }

  private static func epsilon(_ table: TensorTable, _ options: Options) -> (Double, String) {
    if let e = options.epsilon { return (e, "option") }
    for key in epsilonMetadataKeys {
      if let v = table.metadata[key], let e = v.doubleValue ?? v.stringValue.flatMap(Double.init) {
        return (e, "metadata \(key)")
      }
    }
    return (defaultEpsilon, "assumed (torch's BatchNorm default; not in the state dict)")
  }
}
