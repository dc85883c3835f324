import GraftCore

extension VisionTransformer {
  /// The message for EVA02's rotary position embedding, which leaves no trace in the tensors of its attention.
  public static let ropeRefusal = "EVA02-style rotary position embedding (rope) is not supported"

  /// Refuses, by name, the timm ViT relatives whose tensors the engine would otherwise misread or leave unused.
  ///
  /// - Throws: `unsupported` naming the feature and a tensor (or metadata value) that shows it.
  static func refuseUnsupported(_ weights: WeightLoader, hints: ArchitectureHints) throws(GraftError) {
    func refuse(_ feature: String, _ tensor: String?) -> GraftError {
      GraftError(.unsupported, feature, tensor: tensor.map(weights.fullName))
    }
    let names = weights.table.names.filter { $0.hasPrefix(weights.prefix) }.map {
      String($0.dropFirst(weights.prefix.count))
    }
    let eva = ["blocks.0.attn.q_bias", "blocks.0.attn.v_bias", "blocks.0.attn.q_proj.weight"]
    if let t = eva.first(where: weights.contains) {
      throw refuse(
        ropeRefusal + ": this is a timm Eva-family checkpoint (attn.q_bias/v_bias or q_proj), and EVA02's rope leaves "
          + "no trace in its tensors", t)
    }
    if let t = names.first(where: { $0.split(separator: ".").contains { $0.hasPrefix("rope") } }) {
      throw refuse(ropeRefusal, t)
    }
    if let name = hints.architectureNames.first(where: { $0.hasPrefix("eva") }) {
      throw refuse(ropeRefusal + " (the metadata names the architecture \(name))", nil)
    }
    let byTensor: [(String, String)] = [
      ("blocks.0.attn.lambda_q1", "differential attention (timm attn_layer='diff') is not supported"),
      ("blocks.0.attn.gate.weight", "gated attention (timm Attention gated=True, attn.gate) is not supported"),
      ("blocks.0.in_proj.weight", "parallel scaling blocks (timm ParallelScalingBlock) are not supported"),
      ("blocks.0.attns.0.attn.qkv.weight", "parallel blocks (timm ParallelThingsBlock) are not supported"),
      ("blocks.0.attn.k_proj.weight", "separate q/k/v projections (attn.q_proj/k_proj/v_proj) are not supported"),
    ]
    if let (t, feature) = byTensor.first(where: { weights.contains($0.0) }) { throw refuse(feature, t) }
    let byMetadata: [(String, String, String)] = [
      ("block_fn", "block", "blocks other than timm's pre-norm Block"),
      ("attn_layer", "attention", "attention layers other than timm's Attention"),
    ]
    for (key, standard, feature) in byMetadata {
      if let v = try hints.lookup(key, option: key, expected: "a name", ArchitectureHints.string), v.value != standard {
        throw refuse("\(feature) (\(v.source.description) is \(v.value)) are not supported", nil)
      }
    }
    if let v = try hints.lookup("global_pool", option: "globalPool", expected: "a name", ArchitectureHints.string),
      v.value.lowercased() == "prr"
    {
      throw refuse("global_pool='prr' (timm AttentionPoolPrr) is not supported (\(v.source.description))", nil)
    }
    if let v = try hints.lookup(
      "use_rot_pos_emb", option: "use_rot_pos_emb", expected: "a boolean", ArchitectureHints.bool),
      v.value
    {
      throw refuse(ropeRefusal + " (\(v.source.description))", nil)
    }
    if let v = try hints.lookup(
      "dynamic_img_pad", option: "dynamic_img_pad", expected: "a boolean", ArchitectureHints.bool),
      v.value
    {
      throw refuse(
        "padding inputs to a patch multiple (timm dynamic_img_pad, \(v.source.description)) is not supported", nil)
    }
  }
}
