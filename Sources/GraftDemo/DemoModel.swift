public import Graft

/// The embedded default checkpoint used by `graft demo`: a tiny timm-style Vision Transformer with seeded weights.
///
/// Building it in code keeps the demo self-contained (no download, no Python) and deterministic: the same seed gives
/// byte-identical tensors on every machine.
public enum DemoModel {
  /// The architecture of the demo model.
  public struct Configuration: Sendable {
    /// Embedding width.
    public var width = 64
    /// Number of transformer blocks.
    public var depth = 2
    /// Attention heads.
    public var heads = 2
    /// Patch size in pixels.
    public var patch = 8
    /// Image side in pixels.
    public var image = 32
    /// Output classes.
    public var classes = 10
    /// MLP hidden width as a multiple of `width`.
    public var mlpRatio = 4
    /// Creates the default configuration.
    public init() {}
  }

  /// Builds the model's state dict with timm's names, float32 weights drawn from a seeded generator.
  public static func vit(_ c: Configuration = Configuration(), seed: UInt64 = 2026) -> TensorTable {
    var rng = SplitMix64(seed: seed)
    var table = TensorTable()
    func add(_ name: String, _ shape: [Int], scale: Float, offset: Float = 0) {
      let n = shape.reduce(1, *)
      let values = (0..<n).map { _ in rng.nextSignedUnitFloat() * scale + offset }
      // Names are unique by construction.
      try? table.append(name, Tensor(float32: values, shape: shape))
    }
    let d = c.width
    let tokens = (c.image / c.patch) * (c.image / c.patch) + 1
    add("cls_token", [1, 1, d], scale: 0.02)
    add("pos_embed", [1, tokens, d], scale: 0.02)
    add("patch_embed.proj.weight", [d, 3, c.patch, c.patch], scale: 0.05)
    add("patch_embed.proj.bias", [d], scale: 0.01)
    let h = d * c.mlpRatio
    for b in 0..<c.depth {
      let p = "blocks.\(b)."
      add(p + "norm1.weight", [d], scale: 0.1, offset: 1)
      add(p + "norm1.bias", [d], scale: 0.02)
      add(p + "attn.qkv.weight", [3 * d, d], scale: 0.1)
      add(p + "attn.qkv.bias", [3 * d], scale: 0.02)
      add(p + "attn.proj.weight", [d, d], scale: 0.1)
      add(p + "attn.proj.bias", [d], scale: 0.02)
      add(p + "norm2.weight", [d], scale: 0.1, offset: 1)
      add(p + "norm2.bias", [d], scale: 0.02)
      add(p + "mlp.fc1.weight", [h, d], scale: 0.1)
      add(p + "mlp.fc1.bias", [h], scale: 0.02)
      add(p + "mlp.fc2.weight", [d, h], scale: 0.05)
      add(p + "mlp.fc2.bias", [d], scale: 0.02)
    }
    add("norm.weight", [d], scale: 0.1, offset: 1)
    add("norm.bias", [d], scale: 0.02)
    add("head.weight", [c.classes, d], scale: 0.1)
    add("head.bias", [c.classes], scale: 0.02)
    table.metadata["format"] = "pt"
    table.metadata["graft.demo"] = .string(
      "timm vit: width \(d), depth \(c.depth), heads \(c.heads), patch \(c.patch), image \(c.image)")
    // timm's constructor arguments: what the engine cannot read from the tensors (heads; the rest timm's defaults).
    table.metadata["timm_args"] = .string(
      JSONValue.object(
        JSONObject([
          ("img_size", .integer(c.image)), ("patch_size", .integer(c.patch)), ("embed_dim", .integer(d)),
          ("depth", .integer(c.depth)), ("num_heads", .integer(c.heads)), ("mlp_ratio", .integer(c.mlpRatio)),
          ("num_classes", .integer(c.classes)),
        ])
      ).serialized())
    return table
  }
}
