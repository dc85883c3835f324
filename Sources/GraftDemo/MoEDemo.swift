public import Graft

/// A self-contained dense → MoE demonstration on a tiny in-memory ViT: upcycled by copies and by partition,
/// recycled the Jetpack way, each verified by the engine.
public enum MoEDemo {
  /// A small timm ViT (16×16 images, 8×8 patches, class token) with seeded random weights.
  public static func sampleCheckpoint(
    depth: Int = 2, width: Int = 16, hidden: Int = 32, seed: UInt64 = 11
  )
    -> TensorTable
  {
    var rng = SplitMix64(seed: seed)
    var t = TensorTable()
    let d = width
    func add(_ name: String, _ shape: [Int], scale: Float, offset: Float = 0) {
      let n = shape.reduce(1, *)
      try? t.append(
        name, Tensor(float32: (0..<n).map { _ in offset + scale * rng.approximateNormalFloat() }, shape: shape))
    }
    add("cls_token", [1, 1, d], scale: 0.5)
    add("pos_embed", [1, 5, d], scale: 0.5)
    add("patch_embed.proj.weight", [d, 3, 8, 8], scale: 1 / Float(192).squareRoot())
    add("patch_embed.proj.bias", [d], scale: 0.1)
    for i in 0..<depth {
      let b = "blocks.\(i)."
      add(b + "norm1.weight", [d], scale: 0.2, offset: 1)
      add(b + "norm1.bias", [d], scale: 0.1)
      add(b + "attn.qkv.weight", [3 * d, d], scale: 1 / Float(d).squareRoot())
      add(b + "attn.qkv.bias", [3 * d], scale: 0.1)
      add(b + "attn.proj.weight", [d, d], scale: 1 / Float(d).squareRoot())
      add(b + "attn.proj.bias", [d], scale: 0.1)
      add(b + "norm2.weight", [d], scale: 0.2, offset: 1)
      add(b + "norm2.bias", [d], scale: 0.1)
      add(b + "mlp.fc1.weight", [hidden, d], scale: 1 / Float(d).squareRoot())
      add(b + "mlp.fc1.bias", [hidden], scale: 0.1)
      add(b + "mlp.fc2.weight", [d, hidden], scale: 1 / Float(hidden).squareRoot())
      add(b + "mlp.fc2.bias", [d], scale: 0.1)
    }
    add("norm.weight", [d], scale: 0.2, offset: 1)
    add("norm.bias", [d], scale: 0.1)
    add("head.weight", [5, d], scale: 1 / Float(d).squareRoot())
    add("head.bias", [5], scale: 0.1)
    t.metadata["num_heads"] = .string("2")
    // timm's constructor arguments (the rest are timm's defaults: token pooling, GELU, LayerNorm eps 1e-6).
    t.metadata["timm_args"] = .string(#"{"img_size": 16, "patch_size": 8, "num_heads": 2, "num_classes": 5}"#)
    return t
  }

  /// Upcycles the sample (copies, top-2 renormalised; partition with a shared expert, all-on) and recycles it
  /// (Jetpack simplified, importance on synthetic statistics), printing every verification table.
  ///
  /// IO-free: `workFolder` is accepted for the demo runner's uniform signature and nothing is written to it.
  ///
  /// - Returns: whether every check passed, and the lines to print.
  public static func run(workFolder: String) throws -> (passed: Bool, lines: [String]) {
    let dense = sampleCheckpoint()
    var lines: [String] = []
    var passed = true
    var copies = MoEUpcycle.Options()
    copies.experts = 4
    copies.topK = 2
    let (moe1, manifest1) = try MoEUpcycle.upcycle(dense, options: copies)
    let check1 = try MoECheck.verify(dense: dense, moe: moe1, manifest: manifest1)
    lines.append("MoE upcycle --method copies --experts 4 --top-k 2 (softmax-topk-renorm), every block:")
    lines += check1.lines.map { "  " + $0 }
    passed = passed && check1.passed
    var partition = MoEUpcycle.Options()
    partition.experts = 4
    partition.method = .partition
    partition.partition = .clustering
    partition.sharedHidden = 8
    partition.gate = .softmaxTopKRenormalized
    partition.router = .centroid
    let (moe2, manifest2) = try MoEUpcycle.upcycle(dense, options: partition)
    let check2 = try MoECheck.verify(dense: dense, moe: moe2, manifest: manifest2)
    lines.append("MoE upcycle --method partition --partition clustering --shared-hidden 8 --router centroid:")
    lines += check2.lines.map { "  " + $0 }
    passed = passed && check2.passed
    var recycle = MoERecycle.Options()
    recycle.experts = 4
    recycle.ratio = 0.25
    recycle.strategy = .importanceL2
    let layers = try recycle.layers.resolve(depth: 2)
    let images = try MoEStatisticsCollection.syntheticImages(dense: dense, count: 2, seed: 1)
    recycle.statistics = try MoEStatisticsCollection.collect(
      dense: dense, images: images, blocks: layers, coactivation: false)
    recycle.statisticsSource = "synthetic 2 images, seed 1"
    let (moe3, manifest3) = try MoERecycle.recycle(dense, options: recycle)
    let check3 = try MoECheck.verify(dense: dense, moe: moe3, manifest: manifest3)
    lines.append("MoE recycle --strategy importance-l2 --experts 4 --ratio 0.25 --layers last-half (Jetpack layout):")
    lines += check3.lines.map { "  " + $0 }
    passed = passed && check3.passed
    return (passed, lines)
  }
}
