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
    var vit = SampleViT(depth: depth, width: width, seed: seed) { vit, mlp in
      vit.linear(mlp + ".fc1", out: hidden, in: width)
      vit.linear(mlp + ".fc2", out: width, in: hidden)
    }
    vit.linear("head", out: 5, in: width)
    var t = vit.table
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
    func verify(_ title: String, _ result: (TensorTable, MoEManifest)) throws {
      let check = try MoECheck.verify(dense: dense, moe: result.0, manifest: result.1)
      lines.append(title)
      lines += check.lines.map { "  " + $0 }
      passed = passed && check.passed
    }
    var copies = MoEUpcycle.Options()
    copies.experts = 4
    copies.topK = 2
    try verify(
      "MoE upcycle --method copies --experts 4 --top-k 2 (softmax-topk-renorm), every block:",
      try MoEUpcycle.upcycle(dense, options: copies))
    var partition = MoEUpcycle.Options()
    partition.experts = 4
    partition.method = .partition
    partition.partition = .clustering
    partition.sharedHidden = 8
    partition.gate = .softmaxTopKRenormalized
    partition.router = .centroid
    try verify(
      "MoE upcycle --method partition --partition clustering --shared-hidden 8 --router centroid:",
      try MoEUpcycle.upcycle(dense, options: partition))
    var recycle = MoERecycle.Options()
    recycle.experts = 4
    recycle.ratio = 0.25
    recycle.strategy = .importanceL2
    let layers = try recycle.layers.resolve(depth: 2)
    let images = try MoEStatisticsCollection.syntheticImages(dense: dense, count: 2, seed: 1)
    recycle.statistics = try MoEStatisticsCollection.collect(
      dense: dense, images: images, blocks: layers, coactivation: false)
    recycle.statisticsSource = "synthetic 2 images, seed 1"
    try verify(
      "MoE recycle --strategy importance-l2 --experts 4 --ratio 0.25 --layers last-half (Jetpack layout):",
      try MoERecycle.recycle(dense, options: recycle))
    return (passed, lines)
  }
}
