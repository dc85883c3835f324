import Graft

/// The tiny timm ViT backbone of the surgery demos (16×16 images, 8×8 patches, class token, so 5 tokens), with
/// seeded normal weights: scale 1/√fan_in for weights, 0.1 for biases, norms around 1.
struct SampleViT {
  private var rng: SplitMix64
  /// The tensors added so far.
  var table = TensorTable()

  /// Builds the backbone under `prefix`: embeddings, `depth` blocks, final norm.
  ///
  /// `mlp` adds each block's MLP under the name prefix it is given; the caller adds the head, if any.
  init(prefix: String = "", depth: Int, width d: Int, seed: UInt64, mlp: (inout SampleViT, String) -> Void) {
    rng = SplitMix64(seed: seed)
    add(prefix + "cls_token", [1, 1, d], scale: 0.5)
    add(prefix + "pos_embed", [1, 5, d], scale: 0.5)
    add(prefix + "patch_embed.proj.weight", [d, 3, 8, 8], scale: 1 / Float(192).squareRoot())
    add(prefix + "patch_embed.proj.bias", [d], scale: 0.1)
    for i in 0..<depth {
      let b = prefix + "blocks.\(i)."
      norm(b + "norm1", width: d)
      linear(b + "attn.qkv", out: 3 * d, in: d)
      linear(b + "attn.proj", out: d, in: d)
      norm(b + "norm2", width: d)
      mlp(&self, b + "mlp")
    }
    norm(prefix + "norm", width: d)
  }

  /// Appends `offset + scale·N(0, 1)` values (names are unique by construction).
  mutating func add(_ name: String, _ shape: [Int], scale: Float, offset: Float = 0) {
    let n = shape.reduce(1, *)
    let values = (0..<n).map { _ in offset + scale * rng.approximateNormalFloat() }
    try? table.append(name, Tensor(float32: values, shape: shape))
  }

  /// Appends a Linear's weight `[out, in]` and bias.
  mutating func linear(_ prefix: String, out: Int, in inputs: Int) {
    add(prefix + ".weight", [out, inputs], scale: 1 / Float(inputs).squareRoot())
    add(prefix + ".bias", [out], scale: 0.1)
  }

  /// Appends a LayerNorm's weight and bias.
  mutating func norm(_ prefix: String, width: Int) {
    add(prefix + ".weight", [width], scale: 0.2, offset: 1)
    add(prefix + ".bias", [width], scale: 0.1)
  }
}
