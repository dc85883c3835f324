import GraftCore
import GraftHDF5
import TestSupport
import Testing

/// Exports Graft-written HDF5 files and a manifest for `scripts/interop/check_hdf5.py`.
///
/// The files go to `$GRAFT_INTEROP_DIR`, for the script to open with h5py (and Keras). Without the variable they go
/// to a scratch folder, so the test still checks that everything it exports can be written and read back.
@Suite("HDF5 interop export", .enabled(if: HDF5Support.isAvailable, "built without the HDF5 trait"))
struct HDF5InteropExportTests {
  @Test("export Graft-written HDF5 files with a manifest for h5py and Keras")
  func export() throws {
    let folder = try FileSystem.environment("GRAFT_INTEROP_DIR") ?? TestPaths.scratchFolder("hdf5-interop")
    try FileSystem.makeDirectory(folder)
    var manifest = JSONObject()
    func export(
      _ table: TensorTable, _ file: String, _ options: HDF5Checkpoint.WriteOptions, keras: String? = nil
    )
      throws
    {
      let path = folder + "/" + file
      _ = try HDF5Checkpoint.write(table, to: path, options: options)
      let back = try HDF5Checkpoint.read(path: path)
      #expect(back.count == table.count, "\(file)")
      var datasets = JSONObject()
      for (name, components) in try datasetPaths(table, options) {
        guard let tensor = table[name] else { continue }
        var item = JSONObject()
        item["dtype"] = .string(tensor.dtype.rawValue)
        item["shape"] = .array(tensor.shape.map(JSONValue.integer))
        item["hex"] = .string(hex(try tensor.readAllBytes()))
        datasets["/" + components.joined(separator: "/")] = .object(item)
      }
      var entry = JSONObject()
      entry["datasets"] = .object(datasets)
      var attributes = JSONObject()
      for (key, value) in table.metadata where !key.hasPrefix("/") && !key.hasPrefix("hdf5.") {
        if case .object = value { continue }
        attributes[key] = value
      }
      entry["attributes"] = .object(attributes)
      entry["layout"] = .string(options.layout.rawValue)
      if let keras { entry["keras_model"] = .string(keras) }
      manifest[file] = .object(entry)
    }
    var options = HDF5Checkpoint.WriteOptions()
    try export(try sampleTable(), "plain.h5", options)
    options.compress = true
    try export(try sampleTable(), "plain-compressed.h5", options)
    options = HDF5Checkpoint.WriteOptions()
    options.flat = true
    try export(try sampleTable(), "flat.h5", options)
    options = HDF5Checkpoint.WriteOptions()
    options.layout = .keras3
    let keras3 = try HDF5Checkpoint.read(path: TestPaths.fixture("hdf5/keras3.weights.h5"))
    try export(keras3, "keras3.weights.h5", options, keras: TestPaths.fixture("hdf5/keras3.model.json"))
    options.layout = .keras2
    let legacy = try HDF5Checkpoint.read(path: TestPaths.fixture("hdf5/keras3-legacy.h5"))
    try export(legacy, "keras2.h5", options, keras: TestPaths.fixture("hdf5/keras3.model.json"))
    let text = JSONValue.object(manifest).serialized(JSONFormatting(indent: 1, sortKeys: true))
    try FileSystem.writeAll(Array(text.utf8), to: folder + "/manifest.json")
    #expect(FileSystem.exists(folder + "/manifest.json"))
  }

  /// Stored tensor name → HDF5 path components, mirroring the writer's documented mapping.
  func datasetPaths(_ table: TensorTable, _ options: HDF5Checkpoint.WriteOptions) throws -> [(String, [String])] {
    var counters: [String: Int] = [:]
    return table.storedEntries.map { entry in
      let parts = entry.name.split(separator: ".").map(String.init)
      switch options.layout {
      case .keras2:
        return (entry.name, [parts[0]] + parts)
      case .keras3 where parts.count >= 2 && parts[parts.count - 2] == "vars":
        return (entry.name, parts)
      case .keras3:
        let layer = parts.dropLast().joined(separator: "/")
        let i = counters[layer, default: 0]
        counters[layer] = i + 1
        return (entry.name, ["layers"] + parts.dropLast() + ["vars", String(i)])
      default:
        return (entry.name, options.flat ? [entry.name] : parts)
      }
    }
  }
}
