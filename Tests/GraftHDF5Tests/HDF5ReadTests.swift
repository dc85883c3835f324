import GraftCore
import GraftHDF5
import TestSupport
import Testing

@Suite(
  "Reading HDF5 files written by h5py and Keras", .enabled(if: HDF5Support.isAvailable, "built without the HDF5 trait"))
struct HDF5ReadTests {
  @Test("a plain h5py file reads with identical values: chunked, gzip, big-endian, scalar, zero-size, f16, bool")
  func plainFile() throws {
    let table = try HDF5Checkpoint.read(path: TestPaths.fixture("hdf5/plain.h5"))
    try expectMatchesExpected(table, "hdf5/plain.expected.json")
    #expect(table.metadata["hdf5.layout"] == "plain")
    #expect(table["encoder.layer0.weight"]?.bytes is MappedBytes, "contiguous little-endian data is mapped")
    #expect(table["be.f32"]?.bytes is ProducedBytes, "big-endian data is swapped by a producer")
    #expect(table["chunked.big"]?.bytes is ProducedBytes)
    #expect(table.metadata["title"] == "plain h5py file")
    #expect(table.metadata["fixed"] == "fixed-bytes")
    #expect(table.metadata["epoch"] == 7)
    #expect(table.metadata["lr"] == .double(0.125))
    #expect(table.metadata["tags"] == ["a", "bc"])
    #expect(table.metadata["/encoder/layer0/weight@units"] == 3)
    let skipped = table.metadata["hdf5.skipped"]?.arrayValue?.compactMap(\.stringValue) ?? []
    #expect(skipped.contains { $0.hasPrefix("/vocab") })
  }

  @Test("unaligned ranges of a chunked dataset read the right bytes")
  func unalignedProducerRanges() throws {
    let table = try HDF5Checkpoint.read(path: TestPaths.fixture("hdf5/plain.h5"))
    let tensor = try #require(table["chunked.big"])
    let all = try tensor.readAllBytes()
    var piece = [UInt8](repeating: 0, count: 1001)
    try piece.withUnsafeMutableBytes { try tensor.bytes.copyBytes(in: 333..<1334, into: $0) }
    #expect(piece == Array(all[333..<1334]))
  }

  @Test("a Keras 3 .weights.h5 reads with identical values, bf16 included")
  func keras3() throws {
    let table = try HDF5Checkpoint.read(path: TestPaths.fixture("hdf5/keras3.weights.h5"))
    try expectMatchesExpected(table, "hdf5/keras3.weights.expected.json")
    #expect(table.metadata["hdf5.layout"] == "keras3")
    #expect(table["layers.dense_1.vars.0"]?.dtype == .bfloat16)
    #expect(table.metadata["/layers/dense_1/vars@name"] == "head")
  }

  @Test("a tf.keras 2 save_weights file reads, with weight_names split into chunks past 64 KB")
  func keras2() throws {
    let table = try HDF5Checkpoint.read(path: TestPaths.fixture("hdf5/keras2.h5"))
    try expectMatchesExpected(table, "hdf5/keras2.expected.json")
    #expect(table.metadata["hdf5.layout"] == "keras2")
    #expect(table.names.first == "dense.kernel")
    #expect(table.count == 402)
    #expect(table.metadata["keras_version"] == "2.15.0")
    #expect(table.metadata["layer_names"] == nil, "structural attributes are not metadata")
  }

  @Test("Keras 3's legacy full-model .h5 reads as Keras 2 layout, bf16 opaque without attribute included")
  func keras3Legacy() throws {
    let table = try HDF5Checkpoint.read(path: TestPaths.fixture("hdf5/keras3-legacy.h5"))
    try expectMatchesExpected(table, "hdf5/keras3-legacy.expected.json")
    #expect(table.names.prefix(2) == ["conv2d.kernel", "conv2d.bias"])
    #expect(table.metadata["backend"] == "torch")
    #expect(table.metadata["model_config"]?.stringValue?.hasPrefix("{") == true)
  }

  @Test("describe names the layout, datasets and attributes")
  func describe() throws {
    let text = try HDF5Checkpoint.describe(path: TestPaths.fixture("hdf5/keras3.weights.h5"))
    #expect(text.contains("layout keras3"))
    #expect(text.contains("0  F32  [3, 3, 2, 3]  contiguous"))
    #expect(text.contains("@name = \"head\""))
  }

  @Test("HDF5 support reports the linked library")
  func support() {
    #expect(HDF5Support.isAvailable)
    #expect(HDF5Support.libraryVersion?.hasPrefix("1.") == true)
    #expect(HDF5Checkpoint.signature == [0x89] + Array("HDF\r\n\u{1A}\n".utf8))
  }
}
