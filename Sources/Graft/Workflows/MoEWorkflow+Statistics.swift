public import GraftCore
public import GraftEngine
public import GraftSurgery

/// Gathers the activation statistics the recycling strategies read, by running the dense ViT through the engine
/// with recording MLPs at the blocks to convert.
public enum MoEStatisticsCollection {
  /// Runs `images` (`[N, C, H, W]`) through the dense model in batches and returns each block's statistics.
  ///
  /// Sums stream batch by batch; only the `h × h` co-activation counts (when asked) grow with the model.
  ///
  /// - Throws: when the model does not build or the images do not fit it.
  public static func collect(
    dense: TensorTable, images: FloatTensor, blocks: [Int], coactivation: Bool, batch: Int = 8,
    model: VisionTransformer.Options = .init()
  ) throws(GraftError) -> [Int: MoELayerStatistics] {
    let recorder = MoEActivationStatistics(blocks: Set(blocks), coactivation: coactivation)
    var options = model
    options.feedForwardBuilders = [MoEStatisticsBuilder(recorder: recorder)] + options.feedForwardBuilders
    let vit = try VisionTransformer(dense, options: options)
    let sample = vit.sampleShape.reduce(1, *)
    let n = images.count / max(sample, 1)
    guard n > 0, images.count == n * sample else {
      throw GraftError(
        .invalidArgument, "calibration images of shape \(images.shape); the model takes [N] + \(vit.sampleShape)")
    }
    var start = 0
    while start < n {
      let m = min(batch, n - start)
      let slice = try FloatTensor(
        shape: [m] + vit.sampleShape, values: Array(images.values[(start * sample)..<((start + m) * sample)]))
      _ = try vit.forward(slice, hiddenStates: false)
      start += m
    }
    var out: [Int: MoELayerStatistics] = [:]
    for (b, s) in recorder.sums {
      out[b] = MoELayerStatistics(
        tokens: s.tokens, l1: s.l1, l2: s.squares.map { $0.squareRoot() }, frequency: s.frequency,
        coactivation: s.coactivation, channelL1: s.channelL1, channelL2: s.channelSquares.map { $0.squareRoot() })
    }
    return out
  }

  /// Seeded synthetic images (approximately standard normal) for data-free-but-engine statistics.
  public static func syntheticImages(
    dense: TensorTable, count: Int, seed: UInt64, model: VisionTransformer.Options = .init()
  )
    throws(GraftError) -> FloatTensor
  {
    let vit = try VisionTransformer(dense, options: model)
    return ModelCheck.randomInput(shape: [count] + vit.sampleShape, seed: seed)
  }
}
