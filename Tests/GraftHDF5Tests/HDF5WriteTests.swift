import Glibc
import GraftCore
import GraftHDF5
import TestSupport
import Testing

/// A table with one tensor of every dtype the HDF5 writer stores, plus a scalar, a zero-size tensor and an alias.
func sampleTable() throws -> TensorTable {
  var rng = SplitMix64(seed: 4)
  var table = TensorTable()
  func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) } }
  try table.append("encoder.layer0.weight", Tensor(float32: rng.floats(12), shape: [4, 3]))
  try table.append("encoder.layer0.bias", Tensor(float32: rng.floats(3), shape: [3]))
  try table.append(
    "half",
    Tensor(
      dtype: .float16, shape: [2, 3], copying: [0x00, 0x3C, 0x00, 0xC0, 0x01, 0x00, 0xFF, 0x7B, 0x00, 0x7C, 0x01, 0x7E])
  )
  try table.append("brain", Tensor(dtype: .bfloat16, shape: [3], copying: [0x80, 0x3F, 0xC0, 0x7F, 0x01, 0x00]))
  try table.append("fp8", Tensor(dtype: .float8E4M3, shape: [4], copying: [0x00, 0x38, 0x7F, 0xFF]))
  try table.append("f64", Tensor(dtype: .float64, shape: [2], copying: bytes(16)))
  try table.append("ints.i8", Tensor(dtype: .int8, shape: [3], copying: bytes(3)))
  try table.append("ints.u16", Tensor(dtype: .uint16, shape: [3], copying: bytes(6)))
  try table.append("ints.i64", Tensor(dtype: .int64, shape: [2], copying: bytes(16)))
  try table.append("ints.u64", Tensor(dtype: .uint64, shape: [1], copying: bytes(8)))
  try table.append("mask", Tensor(dtype: .bool, shape: [3], copying: [1, 0, 1]))
  try table.append("complex", Tensor(dtype: .complex64, shape: [2], copying: bytes(16)))
  try table.append("step", Tensor(dtype: .int64, shape: [], copying: [42, 0, 0, 0, 0, 0, 0, 0]))
  try table.append("empty", Tensor(dtype: .float32, shape: [0, 3], copying: []))
  try table.append("big", Tensor(float32: rng.floats(70 * 33), shape: [70, 33]))
  try table.appendAlias("tied.weight", of: "encoder.layer0.weight")
  table.metadata["title"] = "written by graft"
  table.metadata["epoch"] = 3
  table.metadata["lr"] = .double(0.5)
  table.metadata["tags"] = ["x", "y"]
  table.metadata["nested"] = ["a": 1]
  table.metadata["/encoder/layer0/weight@units"] = 3
  table.lineage = [LineageRecord(operation: "convert", tool: "graft test")]
  return table
}

/// Expects two tables to hold the same names, dtypes, shapes and bytes.
func expectSameTensors(_ a: TensorTable, _ b: TensorTable, sourceLocation: SourceLocation = #_sourceLocation) throws {
  #expect(a.names == b.names, sourceLocation: sourceLocation)
  for entry in a.entries {
    guard let other = b[entry.name] else { continue }
    #expect(other.dtype == entry.tensor.dtype, "\(entry.name)", sourceLocation: sourceLocation)
    #expect(other.shape == entry.tensor.shape, "\(entry.name)", sourceLocation: sourceLocation)
    #expect(try other.readAllBytes() == entry.tensor.readAllBytes(), "\(entry.name)", sourceLocation: sourceLocation)
  }
}

@Suite("Writing HDF5 files", .enabled(if: HDF5Support.isAvailable, "built without the HDF5 trait"))
struct HDF5WriteTests {
  @Test(
    "the same table gives byte-identical files a second later, in every layout",
    arguments: [HDF5Checkpoint.Layout.plain, .keras2, .keras3])
  func deterministic(layout: HDF5Checkpoint.Layout) throws {
    let folder = try TestPaths.scratchFolder("hdf5-deterministic-\(layout)")
    var table = TensorTable()
    try table.append("dense.kernel", Tensor(float32: [1, 2, 3, 4, 5, 6], shape: [2, 3]))
    try table.append("dense.bias", Tensor(float32: [7, 8, 9], shape: [3]))
    // What a Keras file needs: the weight order and, for Keras 3, the layer's class.
    table.metadata["hdf5.keras2.weight_order"] = ["dense.kernel", "dense.bias"]
    table.metadata["model_config"] = #"{"config": {"layers": [{"class_name": "Dense", "config": {"name": "dense"}}]}}"#
    var options = HDF5Checkpoint.WriteOptions()
    options.layout = layout
    _ = try HDF5Checkpoint.write(table, to: folder + "/a.h5", options: options)
    // libhdf5 stamps object headers with times of one-second resolution unless told not to.
    usleep(1_100_000)
    _ = try HDF5Checkpoint.write(table, to: folder + "/b.h5", options: options)
    #expect(try FileSystem.readAll(folder + "/a.h5") == FileSystem.readAll(folder + "/b.h5"))
  }

  @Test("plain layout round-trips every dtype, metadata, lineage and aliases", arguments: [false, true])
  func plainRoundTrip(compress: Bool) throws {
    let folder = try TestPaths.scratchFolder("hdf5-write")
    let table = try sampleTable()
    var options = HDF5Checkpoint.WriteOptions()
    options.compress = compress
    let path = folder + "/out.h5"
    let summary = try HDF5Checkpoint.write(table, to: path, options: options)
    #expect(summary.files == [path])
    #expect(summary.storedTensorCount == table.count - 1)
    #expect(summary.bytesWritten == (try FileSystem.size(of: path)))
    let back = try HDF5Checkpoint.read(path: path)
    try expectSameTensors(table, back)
    #expect(back.entry("tied.weight")?.aliasOf == "encoder.layer0.weight", "hard links come back as aliases")
    #expect(back.metadata["title"] == "written by graft")
    #expect(back.metadata["epoch"] == 3)
    #expect(back.metadata["lr"] == .double(0.5))
    #expect(back.metadata["tags"] == ["x", "y"])
    #expect(back.metadata["nested"] == "{\"a\":1}")
    #expect(back.metadata["/encoder/layer0/weight@units"] == 3)
    #expect(back.lineage.map(\.operation) == ["convert"])
    #expect((back["big"]?.bytes is MappedBytes) == !compress, "uncompressed output maps back zero-copy")
    #expect(try FileSystem.contents(of: folder) == ["out.h5"], "no temporary file is left behind")
  }

  @Test("flat mode keeps names whose paths would collide with groups")
  func flat() throws {
    let folder = try TestPaths.scratchFolder("hdf5-flat")
    var table = TensorTable()
    try table.append("a.b", Tensor(float32: [1], shape: [1]))
    try table.append("a.b.c", Tensor(float32: [2], shape: [1]))
    let error = expectGraftError { _ = try HDF5Checkpoint.write(table, to: folder + "/nested.h5") }
    #expect(error?.message.contains("flat") == true)
    #expect(!FileSystem.exists(folder + "/nested.h5"))
    #expect(try FileSystem.contents(of: folder).isEmpty, "the temporary file is removed on error")
    var options = HDF5Checkpoint.WriteOptions()
    options.flat = true
    _ = try HDF5Checkpoint.write(table, to: folder + "/flat.h5", options: options)
    try expectSameTensors(table, try HDF5Checkpoint.read(path: folder + "/flat.h5"))
  }

  @Test("writing over an input is refused and leaves it intact")
  func refuseInput() throws {
    let folder = try TestPaths.scratchFolder("hdf5-input")
    let path = folder + "/in.h5"
    let table = try sampleTable()
    _ = try HDF5Checkpoint.write(table, to: path)
    let before = try FileSystem.readAll(path)
    let error = expectGraftError { _ = try HDF5Checkpoint.write(table, to: path, inputs: [path]) }
    #expect(error?.code == .invalidArgument)
    #expect(try FileSystem.readAll(path) == before)
  }

  @Test("Keras 3 layout: a read Keras 3 file is written back with the same paths, values and attributes")
  func keras3RoundTrip() throws {
    let folder = try TestPaths.scratchFolder("hdf5-keras3")
    let table = try HDF5Checkpoint.read(path: TestPaths.fixture("hdf5/keras3.weights.h5"))
    var options = HDF5Checkpoint.WriteOptions()
    options.layout = .keras3
    _ = try HDF5Checkpoint.write(table, to: folder + "/m.weights.h5", options: options)
    let back = try HDF5Checkpoint.read(path: folder + "/m.weights.h5")
    #expect(back.metadata["hdf5.layout"] == "keras3")
    try expectSameTensors(table, back)
    #expect(back.metadata["/layers/dense_1/vars@name"] == "head")
  }

  @Test("Keras 3 layout from Keras 2 style names numbers each layer's variables in the recorded order")
  func keras3FromNames() throws {
    let folder = try TestPaths.scratchFolder("hdf5-keras3-names")
    var table = TensorTable()
    try table.append("dense.bias", Tensor(float32: [7, 8], shape: [2]))
    try table.append("dense.kernel", Tensor(float32: [1, 2, 3, 4, 5, 6], shape: [3, 2]))
    table.metadata["hdf5.keras2.weight_order"] = ["dense.kernel", "dense.bias"]
    table.metadata["model_config"] = #"{"config": {"layers": [{"class_name": "Dense", "config": {"name": "dense"}}]}}"#
    var options = HDF5Checkpoint.WriteOptions()
    options.layout = .keras3
    _ = try HDF5Checkpoint.write(table, to: folder + "/n.weights.h5", options: options)
    let back = try HDF5Checkpoint.read(path: folder + "/n.weights.h5")
    #expect(back.names.sorted() == ["layers.dense.vars.0", "layers.dense.vars.1"])
    #expect(try floatValues(#require(back["layers.dense.vars.0"])) == [1, 2, 3, 4, 5, 6])
    #expect(try floatValues(#require(back["layers.dense.vars.1"])) == [7, 8])
  }

  @Test("Keras 2 layout round-trips and splits weight_names past 64 KB like Keras")
  func keras2RoundTrip() throws {
    let folder = try TestPaths.scratchFolder("hdf5-keras2")
    let table = try HDF5Checkpoint.read(path: TestPaths.fixture("hdf5/keras2.h5"))
    var options = HDF5Checkpoint.WriteOptions()
    options.layout = .keras2
    _ = try HDF5Checkpoint.write(table, to: folder + "/w.h5", options: options)
    let back = try HDF5Checkpoint.read(path: folder + "/w.h5")
    #expect(back.metadata["hdf5.layout"] == "keras2")
    try expectSameTensors(table, back)
    #expect(back.metadata["keras_version"] == "2.15.0")
    let text = try HDF5Checkpoint.describe(path: folder + "/w.h5")
    #expect(text.contains("@weight_names0"))
    #expect(text.contains("@weight_names1"))
  }

  @Test("sub-byte dtypes are refused with the dtype named")
  func subByte() throws {
    let folder = try TestPaths.scratchFolder("hdf5-f4")
    var table = TensorTable()
    try table.append("q", Tensor(dtype: .float4E2M1, shape: [2], copying: [0x21]))
    let error = expectGraftError { _ = try HDF5Checkpoint.write(table, to: folder + "/q.h5") }
    #expect(error?.code == .unsupportedDType)
    #expect(error?.tensor == "q")
  }
}
