public import Graft

/// Synthetic Mr.DETR checkpoints with every key and shape of a configuration and deterministic random values.
///
/// Values are produced on demand from a hash of (seed, name, element index), so a full-size R50 key set (≈ 47 M
/// values) costs nothing until bytes are read, and the same seed always gives the same bytes. Scales follow
/// PyTorch's default initialisation closely enough for the verifying engine to produce finite, non-trivial
/// outputs: `U(±1/√fan_in)` for weights and biases, `1 ± 0.1` for norm weights.
public enum MrDETRSynthetic {
  /// A model state dict with the head aliases stored once.
  public static func stateDict(
    config: MrDETRConfig, variant: MrDETRVariant, resNet50Backbone: Bool = false, seed: UInt64 = 1,
    includeAuxiliary: Bool = true
  ) throws(GraftError) -> TensorTable {
    let keys = MrDETRKeySet(
      config: config, variant: variant, includeAuxiliary: includeAuxiliary, resNet50Backbone: resNet50Backbone)
    var table = TensorTable()
    for k in keys.keys {
      if let target = k.aliasOf {
        try table.appendAlias(k.name, of: target)
      } else {
        try table.append(k.name, tensor(name: k.name, shape: k.shape, seed: seed))
      }
    }
    return table
  }

  /// A detectron2 training checkpoint: the model, optionally an EMA state (other values, top-level head aliases
  /// omitted as detrex's `named_parameters`-based EMA does), and `trainer` / `iteration` entries.
  public static func trainingCheckpoint(
    config: MrDETRConfig, variant: MrDETRVariant, resNet50Backbone: Bool = false, seed: UInt64 = 1,
    withEMA: Bool = false
  ) throws(GraftError) -> DetectronTrainingCheckpoint {
    let model = try stateDict(config: config, variant: variant, resNet50Backbone: resNet50Backbone, seed: seed)
    var ema: TensorTable?
    if withEMA {
      var e = try stateDict(config: config, variant: variant, resNet50Backbone: resNet50Backbone, seed: seed &+ 1000)
      e.removeAll { $0.aliasOf != nil }
      ema = e
    }
    return DetectronTrainingCheckpoint(
      model: model, emaState: ema, otherEntries: [("trainer", 3), ("iteration", 1)])
  }

  /// One Float32 tensor of deterministic pseudo-random values.
  public static func tensor(name: String, shape: [Int], seed: UInt64) -> Tensor {
    let count = Checked.product(shape) ?? 0
    let isNormWeight =
      shape.count == 1 && name.hasSuffix(".weight")
      && (name.contains("norm") || name.contains(".gn"))
    let fanIn = shape.count >= 2 ? shape.dropFirst().reduce(1, *) : (shape.first ?? 1)
    let scale: Float = isNormWeight ? 0.1 : 1 / Float(max(fanIn, 1)).squareRoot()
    let offset: Float = isNormWeight ? 1 : 0
    let key = seed ^ XXHash64.hash(Array(name.utf8))
    let bytes = ProducedBytes(byteCount: count * 4) { range, buffer in
      let first = range.lowerBound / 4
      let last = (range.upperBound + 3) / 4
      var values = [Float](repeating: 0, count: last - first)
      for i in first..<last { values[i - first] = offset + scale * unitValue(key, UInt64(i)) }
      values.withUnsafeBytes { src in
        let start = range.lowerBound - first * 4
        buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[start..<(start + range.count)]))
      }
    }
    return Tensor(dtype: .float32, shape: shape, bytes: bytes)
  }

  /// A value in [-1, 1) from a SplitMix64 step over (key, index).
  static func unitValue(_ key: UInt64, _ index: UInt64) -> Float {
    SplitMix64.signedUnitFloat(SplitMix64.value(seed: key, index: index))
  }
}
