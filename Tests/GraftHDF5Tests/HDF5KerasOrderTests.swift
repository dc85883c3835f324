import GraftCore
import GraftFormats
import TestSupport
import Testing

@testable import GraftHDF5

/// Keras files written from a checkpoint that went through a format which sorts tensors by name (issue 14, items 2
/// and 3), compared with the files Keras itself wrote for the same model (Fixtures/integrity, made by
/// scripts/fixtures/integrity.py; scripts/interop/check_integrity.py loads Graft's output into Keras).
@Suite("Keras 2 and Keras 3 layouts keep Keras' order and names", .enabled(if: HDF5Support.isAvailable))
struct HDF5KerasOrderTests {
  /// A Keras file read, written as safetensors (alphabetical order, metadata as text) and read back.
  func throughSafeTensors(_ fixture: String) throws -> (original: TensorTable, sorted: TensorTable) {
    let original = try HDF5Checkpoint.read(path: TestPaths.fixture("integrity/" + fixture))
    let path = try TestPaths.scratchFolder("keras-order") + "/m.safetensors"
    _ = try SafeTensors.write(original, to: path)
    let sorted = try SafeTensors.read(path: path)
    #expect(sorted.names == sorted.names.sorted())
    return (original, sorted)
  }

  @Test("Keras 2 output lists layers and weights in the original order (gamma before beta), not the sorted one")
  func keras2Order() throws {
    let (original, sorted) = try throughSafeTensors("keras-legacy-weights.h5")
    #expect(original.names.firstIndex(of: "bn.gamma")! < original.names.firstIndex(of: "bn.beta")!)
    var options = HDF5Checkpoint.WriteOptions()
    options.layout = .keras2
    let out = try TestPaths.scratchFolder("keras2-order") + "/m.h5"
    _ = try HDF5Checkpoint.write(sorted, to: out, options: options)
    let back = try HDF5Checkpoint.read(path: out)
    // The reader follows layer_names and weight_names, so its order is the file's.
    try expectSameTensors(original, back)
  }

  @Test("Keras 3 output from a Keras 2 full-model file has Keras' own paths and values")
  func keras3FromModelConfig() throws {
    let (_, sorted) = try throughSafeTensors("keras-legacy-model.h5")
    var options = HDF5Checkpoint.WriteOptions()
    options.layout = .keras3
    let out = try TestPaths.scratchFolder("keras3-names") + "/m.weights.h5"
    _ = try HDF5Checkpoint.write(sorted, to: out, options: options)
    let written = try HDF5Checkpoint.read(path: out)
    let keras = try HDF5Checkpoint.read(path: TestPaths.fixture("integrity/keras3.weights.h5"))
    #expect(Set(written.names) == Set(keras.names))
    #expect(written.names.contains("layers.batch_normalization_1.vars.3"))
    for name in keras.names { #expect(try written[name]?.readAllBytes() == keras[name]?.readAllBytes(), "\(name)") }
    #expect(written.metadata["/layers/conv2d_1/vars@name"] == "conv_b")
  }

  @Test("without a recorded order or model config, Keras 2 and Keras 3 output is refused with the reason")
  func refusals() throws {
    let folder = try TestPaths.scratchFolder("keras-refusals")
    var plain = TensorTable()
    try plain.append("dense.kernel", Tensor(float32: [1, 2, 3, 4, 5, 6], shape: [3, 2]))
    try plain.append("dense.bias", Tensor(float32: [7, 8], shape: [2]))
    for layout in [HDF5Checkpoint.Layout.keras2, .keras3] {
      var options = HDF5Checkpoint.WriteOptions()
      options.layout = layout
      let error = expectGraftError { _ = try HDF5Checkpoint.write(plain, to: folder + "/p.h5", options: options) }
      #expect(error?.option == "hdf5Layout")
      #expect(error?.message.contains("does not record that order") == true, "\(String(describing: error))")
    }
    // A Keras 2 save_weights file has the order but not the classes Keras 3 names groups after.
    let (_, sorted) = try throughSafeTensors("keras-legacy-weights.h5")
    var options = HDF5Checkpoint.WriteOptions()
    options.layout = .keras3
    let error = expectGraftError {
      _ = try HDF5Checkpoint.write(sorted, to: folder + "/w.weights.h5", options: options)
    }
    #expect(error?.message.contains("model_config") == true, "\(String(describing: error))")
    // A Keras 3 file does not record the order of its layers.
    let (_, keras3) = try throughSafeTensors("keras3.weights.h5")
    options.layout = .keras2
    let k2 = expectGraftError { _ = try HDF5Checkpoint.write(keras3, to: folder + "/k.h5", options: options) }
    #expect(k2?.option == "hdf5Layout")
    #expect(try FileSystem.contents(of: folder).isEmpty)
  }

  @Test("Keras' to_snake_case")
  func snakeCase() {
    #expect(KerasModelOrder.snakeCase("Conv2D") == "conv2d")
    #expect(KerasModelOrder.snakeCase("BatchNormalization") == "batch_normalization")
    #expect(KerasModelOrder.snakeCase("MultiHeadAttention") == "multi_head_attention")
    #expect(KerasModelOrder.snakeCase("LSTM") == "lstm")
    #expect(KerasModelOrder.snakeCase("Conv2DTranspose") == "conv2d_transpose")
  }
}
