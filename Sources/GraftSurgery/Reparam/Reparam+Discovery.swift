import GraftCore

extension Reparam {
  /// Every BatchNorm in the table, by prefix, in table order.
  ///
  /// - Throws: `invalidModel` naming a statistic whose shape is not `[C]` or whose affine tensors disagree.
  static func batchNorms(in table: TensorTable) throws(GraftError) -> [String: BatchNorm] {
    var out: [String: BatchNorm] = [:]
    for name in table.names where name.hasSuffix(".running_mean") {
      let prefix = String(name.dropLast(".running_mean".count))
      guard let mean = table[name], let variance = table[prefix + ".running_var"] else { continue }
      guard mean.shape.count == 1, variance.shape == mean.shape else {
        throw GraftError(
          .invalidModel, "BatchNorm statistics of shapes \(mean.shape) and \(variance.shape); expected [C]",
          tensor: name)
      }
      let c = mean.shape[0]
      let gamma = table[prefix + ".weight"]
      let beta = table[prefix + ".bias"]
      if (gamma == nil) != (beta == nil) || (gamma.map { $0.shape != [c] } ?? false)
        || (beta.map { $0.shape != [c] } ?? false)
      {
        throw GraftError(.invalidModel, "BatchNorm weight/bias do not match its \(c) channels", tensor: prefix)
      }
      out[prefix] = BatchNorm(prefix: prefix, channels: c, affine: gamma != nil)
    }
    return out
  }

  /// The named multi-branch blocks (RepVGG in both namings, ACB).
  static func namedBlocks(in table: TensorTable, norms: [String: BatchNorm]) throws(GraftError) -> [Block] {
    var blocks: [Block] = []
    let layouts: [(kind: Kind, anchor: String, branches: [String], identity: String?, output: String)] = [
      (.repvggTimm, "conv_kxk.conv.weight", ["conv_kxk", "conv_1x1"], "identity", "reparam_conv"),
      (.repvggOriginal, "rbr_dense.conv.weight", ["rbr_dense", "rbr_1x1"], "rbr_identity", "rbr_reparam"),
    ]
    // `p` below is the block prefix with its trailing dot, empty for a block at the top level.
    func prefix(_ name: String, _ anchor: String) -> String? {
      name == anchor || name.hasSuffix("." + anchor) ? String(name.dropLast(anchor.count)) : nil
    }
    for name in table.names {
      for layout in layouts {
        guard let p = prefix(name, layout.anchor) else { continue }
        var branches: [Branch] = []
        for b in layout.branches {
          guard let norm = norms[p + b + ".bn"] else {
            if b == layout.branches[0] {
              throw GraftError(.invalidModel, "a RepVGG branch without its BatchNorm", tensor: p + b + ".bn")
            }
            continue
          }
          branches.append(try branch(table, weight: p + b + ".conv.weight", norm: norm))
        }
        if let id = layout.identity, let norm = norms[p + id] {
          branches.append(Branch(weight: nil, bias: nil, norm: norm, kernel: []))
        }
        blocks.append(try block(layout.kind, prefix: p, branches: branches, output: p + layout.output, table))
      }
      if let p = prefix(name, "square_conv.weight") {
        if table.contains(p + "last_bn.running_mean") {
          throw GraftError(.unsupported, "ACB with a last BN (use_last_bn) is not re-parameterised yet", tensor: p)
        }
        var branches: [Branch] = []
        for b in ["square", "ver", "hor"] {
          guard let norm = norms[p + b + "_bn"] else {
            throw GraftError(.invalidModel, "an ACB branch without its BatchNorm", tensor: p + b + "_bn")
          }
          branches.append(try branch(table, weight: p + b + "_conv.weight", norm: norm))
        }
        blocks.append(try block(.acb, prefix: p, branches: branches, output: p + "fused_conv", table))
      }
    }
    return blocks
  }

  /// Conv/Linear + BN pairs among the BNs no block consumed, by three naming rules.
  static func pairs(
    in table: TensorTable, norms: [BatchNorm], consumed: Set<String>
  ) throws(GraftError) -> (blocks: [Block], kept: [String]) {
    var blocks: [Block] = []
    var kept: [String] = []
    for norm in norms {
      let p = norm.prefix
      var candidates: [(weight: String, rule: String)] = []
      if p.hasSuffix(".bn") || p == "bn" {
        let base = String(p.dropLast(2))
        candidates.append((base + "conv.weight", "'<m>.conv' + '<m>.bn' (timm ConvNormAct, mmcv ConvModule)"))
      }
      let last = p.split(separator: ".").last.map(String.init) ?? p
      let head = String(p.dropLast(last.count))
      if last.hasPrefix("bn"), let n = Int(last.dropFirst(2)) {
        candidates.append((head + "conv\(n).weight", "'conv\(n)' + 'bn\(n)' (torchvision ResNet)"))
      }
      if let i = Int(last), i > 0 {
        candidates.append((head + "\(i - 1).weight", "'<seq>.\(i - 1)' + '<seq>.\(i)' (nn.Sequential)"))
      }
      guard
        let match = candidates.first(where: { c in
          table[c.weight].map { $0.shape.count >= 2 && $0.shape[0] == norm.channels } ?? false
        }), !consumed.contains(match.weight)
      else {
        kept.append(p)
        continue
      }
      let b = try branch(table, weight: match.weight, norm: norm)
      let module = String(match.weight.dropLast("weight".count))
      var block = try block(.convBN, prefix: module, branches: [b], output: String(module.dropLast()), table)
      block.rule = match.rule
      blocks.append(block)
    }
    return (blocks, kept)
  }

  private static func branch(_ table: TensorTable, weight: String, norm: BatchNorm) throws(GraftError) -> Branch {
    guard let w = table[weight], w.shape.count >= 2 else {
      throw GraftError(
        .invalidModel, "missing or not a conv/Linear weight next to BatchNorm '\(norm.prefix)'", tensor: weight)
    }
    guard w.shape[0] == norm.channels else {
      throw GraftError(
        .invalidModel, "has \(w.shape[0]) outputs but BatchNorm '\(norm.prefix)' has \(norm.channels) channels",
        tensor: weight)
    }
    let biasName = String(weight.dropLast("weight".count)) + "bias"
    return Branch(
      weight: weight, bias: table.contains(biasName) ? biasName : nil, norm: norm, kernel: Array(w.shape.dropFirst(2)))
  }

  /// A block from its branches (`prefix` with its trailing dot): the first branch's weight gives the shape; smaller kernels must fit centred in it.
  private static func block(
    _ kind: Kind, prefix: String, branches: [Branch], output: String, _ table: TensorTable
  ) throws(GraftError) -> Block {
    guard let main = branches.first?.weight, let shape = table[main]?.shape else {
      throw GraftError(.invalidModel, "a block without a convolution", tensor: prefix)
    }
    let kernel = Array(shape.dropFirst(2))
    for b in branches {
      guard let w = b.weight, let s = table[w]?.shape else { continue }
      guard s[0] == shape[0], s[1] == shape[1], s.count == shape.count,
        zip(s.dropFirst(2), kernel).allSatisfy({ $0 <= $1 && ($1 - $0) % 2 == 0 })
      else {
        throw GraftError(
          .invalidModel, "has shape \(s); it must fit centred in the block's \(shape) kernel", tensor: w)
      }
    }
    var groups: Int?
    if branches.contains(where: { $0.weight == nil }) {
      guard shape[1] > 0, shape[0] % shape[1] == 0, kernel.allSatisfy({ $0 % 2 == 1 }) else {
        throw GraftError(
          .invalidModel, "an identity branch needs out = in and an odd kernel; the kernel is \(shape)", tensor: main)
      }
      groups = shape[0] / shape[1]
    }
    let rule: String
    switch kind {
    case .repvggTimm: rule = "timm RepVggBlock names"
    case .repvggOriginal: rule = "RepVGG block names"
    case .acb: rule = "ACNet ACBlock names"
    case .convBN: rule = "conv + BN"
    }
    let name = prefix.hasSuffix(".") ? String(prefix.dropLast()) : prefix
    return Block(
      kind: kind, prefix: name.isEmpty ? "(top level)" : name, branches: branches, outputWeight: output + ".weight",
      outputBias: output + ".bias",
      shape: shape, groups: groups, rule: rule)
  }
}
