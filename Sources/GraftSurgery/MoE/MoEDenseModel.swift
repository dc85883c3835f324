public import GraftCore

/// The dense timm ViT a MoE pass starts from: where its blocks and MLPs are, checked before anything is written.
public struct MoEDenseModel: Sendable {
  /// One block's dense MLP.
  public struct Block: Sendable {
    /// The block index.
    public var index: Int
    /// The MLP prefix, such as `blocks.6.mlp.` (with the checkpoint's wrapper prefix).
    public var prefix: String
    /// The hidden width `h` (rows of `fc1.weight`).
    public var hidden: Int
    /// The dtype of `fc1.weight`.
    public var dtype: DType
    /// Whether `fc1.bias` and `fc2.bias` exist.
    public var hasBias1: Bool
    /// Whether `fc2.bias` exists.
    public var hasBias2: Bool
  }

  /// The wrapper prefix (`""`, `module.`, …).
  public var keyPrefix: String
  /// The model width `d`.
  public var width: Int
  /// The blocks, in order.
  public var blocks: [Block]

  /// The number of blocks.
  public var depth: Int { blocks.count }

  /// Finds the ViT and its dense MLPs.
  ///
  /// - Throws: `invalidModel` for a non-ViT, a checkpoint that already holds MoE layers, or a misshapen MLP.
  public init(_ table: TensorTable) throws(GraftError) {
    let anchor = "patch_embed.proj.weight"
    guard let anchorName = table.names.filter({ $0.hasSuffix(anchor) }).min(by: { $0.count < $1.count }) else {
      throw GraftError(
        .invalidModel,
        "not a timm VisionTransformer: no tensor '\(anchor)'; the dense → MoE passes need a timm ViT (blocks.N.mlp.fc1/fc2)",
        tensor: anchor)
    }
    let prefix = String(anchorName.dropLast(anchor.count))
    for name in table.names where name.hasPrefix(prefix + "blocks.") {
      if name.contains(".mlp.experts.") || name.contains(".mlp.router.") || name.hasSuffix(".mlp.phi")
        || name.contains(".mlp.core_experts.") || name.contains(".mlp.univ_experts.")
      {
        throw GraftError(
          .invalidModel, "the checkpoint is already a mixture of experts; the passes take a dense ViT", tensor: name)
      }
    }
    var blocks: [Block] = []
    var width = 0
    while true {
      let i = blocks.count
      let p = prefix + "blocks.\(i).mlp."
      guard let w1 = table[p + "fc1.weight"] else { break }
      guard let w2 = table[p + "fc2.weight"] else {
        throw GraftError(
          .invalidModel, "missing tensor; expected the MLP's second projection", tensor: p + "fc2.weight")
      }
      guard w1.shape.count == 2, w1.shape[0] > 0, w1.shape[1] > 0 else {
        throw GraftError(.invalidModel, "has shape \(w1.shape); expected [hidden, width]", tensor: p + "fc1.weight")
      }
      let (h, d) = (w1.shape[0], w1.shape[1])
      guard w2.shape == [d, h] else {
        throw GraftError(.invalidModel, "has shape \(w2.shape); expected [\(d), \(h)]", tensor: p + "fc2.weight")
      }
      guard w1.dtype.isFloatingPoint, w1.dtype.byteWidth != nil, w2.dtype == w1.dtype else {
        throw GraftError(
          .unsupportedDType, "has dtype \(w1.dtype) (fc2: \(w2.dtype)); expected one byte-addressable float dtype",
          tensor: p + "fc1.weight")
      }
      if i > 0 && d != width {
        throw GraftError(.invalidModel, "has width \(d); block 0 has \(width)", tensor: p + "fc1.weight")
      }
      width = d
      let b1 = table[p + "fc1.bias"]
      let b2 = table[p + "fc2.bias"]
      if let b1, b1.shape != [h] || b1.dtype != w1.dtype {
        throw GraftError(
          .invalidModel, "has shape \(b1.shape) \(b1.dtype); expected [\(h)] \(w1.dtype)", tensor: p + "fc1.bias")
      }
      if let b2, b2.shape != [d] || b2.dtype != w1.dtype {
        throw GraftError(
          .invalidModel, "has shape \(b2.shape) \(b2.dtype); expected [\(d)] \(w1.dtype)", tensor: p + "fc2.bias")
      }
      blocks.append(
        Block(index: i, prefix: p, hidden: h, dtype: w1.dtype, hasBias1: b1 != nil, hasBias2: b2 != nil))
    }
    guard !blocks.isEmpty else {
      throw GraftError(
        .invalidModel, "missing tensor; a ViT needs dense MLPs 'blocks.N.mlp.fc1.weight' [hidden, width]",
        tensor: prefix + "blocks.0.mlp.fc1.weight")
    }
    keyPrefix = prefix
    self.width = width
    self.blocks = blocks
  }
}

/// Element access for the MoE passes: float views for scoring, and small tensors (routers) encoded from floats.
enum MoEValues {
  /// The tensor's values as Float (exact for F32, F16, BF16; F64 rounds).
  static func floats(_ tensor: Tensor, name: String) throws(GraftError) -> [Float] {
    try tensor.floatValues(name: name)
  }

  /// Encodes Float values as a tensor of `dtype` (round to nearest even).
  static func tensor(_ values: [Float], shape: [Int], dtype: DType) throws(GraftError) -> Tensor {
    if dtype == .float32 { return Tensor(float32: values, shape: shape) }
    guard let size = dtype.byteWidth else {
      throw GraftError(.unsupportedDType, "cannot write \(dtype) router weights")
    }
    var report = CastReport()
    var failure: GraftError?
    let bytes = HeapBytes(count: values.count * size) { dst in
      values.withUnsafeBufferPointer { src in
        do throws(GraftError) {
          try ElementDecoding.encodeFromFloat(src, to: dtype, into: dst, options: CastOptions(), report: &report)
        } catch {
          failure = error
        }
      }
    }
    if let failure { throw failure }
    return Tensor(dtype: dtype, shape: shape, bytes: bytes)
  }
}
