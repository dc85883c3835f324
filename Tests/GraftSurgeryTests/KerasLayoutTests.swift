import GraftCore
import GraftSurgery
import TestSupport
import Testing

@Suite("Keras <-> PyTorch layout pass")
struct KerasLayoutTests {
  /// A Keras 3 style table: conv2d HWIO [2,2,3,4], batch norm, dense [6,5], layer norm, an optimizer variable.
  func keras3Table() throws -> TensorTable {
    var table = TensorTable()
    func ramp(_ shape: [Int], _ offset: Float) -> Tensor {
      let n = shape.reduce(1, *)
      return Tensor(float32: (0..<n).map { Float($0) + offset }, shape: shape)
    }
    try table.append("layers.conv2d.vars.0", ramp([2, 2, 3, 4], 0))
    try table.append("layers.conv2d.vars.1", ramp([4], 100))
    for i in 0..<4 { try table.append("layers.batch_normalization.vars.\(i)", ramp([4], Float(200 + 10 * i))) }
    try table.append("layers.dense_1.vars.0", ramp([6, 5], 300))
    try table.append("layers.dense_1.vars.1", ramp([5], 400))
    try table.append("layers.layer_normalization.vars.0", ramp([5], 500))
    try table.append("layers.layer_normalization.vars.1", ramp([5], 600))
    try table.append("optimizer.vars.0", ramp([], 7))
    return table
  }

  @Test("Keras 3 names become PyTorch names with transposed kernels")
  func toPyTorch() throws {
    let torch = try KerasLayout.toPyTorch(keras3Table())
    #expect(
      torch.names == [
        "conv2d.weight", "conv2d.bias", "batch_normalization.weight", "batch_normalization.bias",
        "batch_normalization.running_mean", "batch_normalization.running_var",
        "batch_normalization.num_batches_tracked", "dense_1.weight", "dense_1.bias", "layer_normalization.weight",
        "layer_normalization.bias", "optimizer.vars.0",
      ])
    let conv = try #require(torch["conv2d.weight"])
    #expect(conv.shape == [4, 3, 2, 2])
    let convValues = try floatValues(conv)
    // OIHW[o,i,h,w] == HWIO[h,w,i,o] = ((h*2 + w)*3 + i)*4 + o
    for o in 0..<4 {
      for i in 0..<3 {
        for h in 0..<2 {
          for w in 0..<2 {
            #expect(convValues[((o * 3 + i) * 2 + h) * 2 + w] == Float(((h * 2 + w) * 3 + i) * 4 + o))
          }
        }
      }
    }
    let dense = try #require(torch["dense_1.weight"])
    #expect(dense.shape == [5, 6])
    #expect(try floatValues(dense)[1] == 300 + 5, "Linear[0,1] = kernel[1,0]")
    #expect(torch["batch_normalization.num_batches_tracked"]?.dtype == .int64)
  }

  @Test("PyTorch back to Keras gives the original values under Keras 2 style names")
  func roundTrip() throws {
    let original = try keras3Table()
    let keras = try KerasLayout.toKeras(KerasLayout.toPyTorch(original))
    #expect(
      keras.names.prefix(4) == [
        "conv2d.kernel", "conv2d.bias", "batch_normalization.gamma", "batch_normalization.beta",
      ])
    #expect(!keras.names.contains("batch_normalization.num_batches_tracked"))
    let pairs = [
      ("layers.conv2d.vars.0", "conv2d.kernel"), ("layers.dense_1.vars.0", "dense_1.kernel"),
      ("layers.batch_normalization.vars.3", "batch_normalization.moving_variance"),
      ("layers.layer_normalization.vars.0", "layer_normalization.gamma"), ("optimizer.vars.0", "optimizer.vars.0"),
    ]
    for (before, after) in pairs {
      let a = try #require(original[before])
      let b = try #require(keras[after])
      #expect(a.shape == b.shape, "\(after)")
      #expect(try a.readAllBytes() == b.readAllBytes(), "\(after)")
    }
  }

  @Test("an embedding keeps its layout and an unknown layer passes through")
  func embeddingAndUnknown() throws {
    var table = TensorTable()
    try table.append("tok_embed.weight", Tensor(float32: [1, 2, 3, 4, 5, 6], shape: [3, 2]))
    try table.append("custom.scale", Tensor(float32: [1], shape: [1]))
    let keras = try KerasLayout.toKeras(table)
    #expect(keras.names == ["tok_embed.embeddings", "custom.scale"])
    #expect(keras["tok_embed.embeddings"]?.shape == [3, 2])
  }
}
