import GraftCore
import GraftFormats
import TestSupport
import Testing

@Suite struct SafeTensorsShardingTests {
  static let shardNames = (1...5).map { "model-0000\($0)-of-00005.safetensors" }

  @Test func parseSize() throws {
    let cases: [(String, Int)] = [
      ("5GB", 5_000_000_000), ("1.5GB", 1_500_000_000), ("500MB", 500_000_000), ("10kb", 10_000),
      ("2TB", 2_000_000_000_000),
      ("2KiB", 2048), ("512MiB", 512 << 20), ("1GiB", 1 << 30), ("1.5GiB", 3 << 29), ("123", 123), ("123B", 123),
      (" 7 MB ", 7_000_000), ("0.5KB", 500),
    ]
    for (text, expected) in cases { #expect(try SafeTensors.parseSize(text) == expected, "\(text)") }
    for bad in ["", "GB", "5XB", "-1GB", "0", "0GB", "1e3GB", "1..5GB", "99999999999TB", "5 G B", "."] {
      #expect(throws: GraftError.self, "\(bad)") { try SafeTensors.parseSize(bad) }
    }
  }

  func shardedCase() throws -> JSONValue {
    try #require(try manifest().first { $0["directory"]?.stringValue == "sharded" })
  }

  @Test func byteIdenticalToHuggingFaceHub() throws {
    let json = try shardedCase()
    let table = try table(fromCase: json)
    let folder = try TestPaths.scratchFolder("st-shard")
    let summary = try SafeTensors.writeSharded(table, directory: folder, maxShardBytes: 100)
    let expectedNames = Self.shardNames + ["model.safetensors.index.json"]
    #expect(summary.files == expectedNames.map { folder + "/" + $0 })
    #expect(summary.storedTensorCount == 8)
    #expect(try FileSystem.contents(of: folder) == expectedNames.sorted())
    for name in expectedNames {
      #expect(
        try contents(folder + "/" + name) == contents(TestPaths.fixture("safetensors/sharded/" + name)), "\(name)")
    }
    #expect(!summary.notes.contains { $0.contains("stale") })
  }

  @Test func readsTheHubCheckpoint() throws {
    let fixture = TestPaths.fixture("safetensors/sharded")
    for path in [fixture, fixture + "/model.safetensors.index.json"] {
      let table = try SafeTensors.readSharded(path: path)
      #expect(
        table.names == [
          "embed.weight", "layers.1.w", "layers.0.w", "layers.0.b", "layers.1.b", "layers.2.w", "norm", "steps",
        ])
      #expect(table.metadata.keys == ["note", "lm_head.weight", "format"])
      for t in (try shardedCase()["tensors"]?.arrayValue ?? []).compactMap(ManifestTensor.init) {
        #expect(try table[t.name]?.readAllBytes() == t.tensor.readAllBytes())
      }
      // Re-sharding what was read keeps tensors, metadata and total size (the hub places an oversized tensor's
      // shard before the one being filled, so the shard order itself is not reproducible from the index).
      let folder = try TestPaths.scratchFolder("st-reshard")
      var options = SafeTensors.WriteOptions()
      options.addFormatKey = false
      _ = try SafeTensors.writeSharded(table, directory: folder, maxShardBytes: 100, options: options)
      let again = try SafeTensors.readSharded(path: folder)
      #expect(Set(again.names) == Set(table.names) && again.metadata == table.metadata)
      for name in table.names { #expect(try again[name]?.readAllBytes() == table[name]?.readAllBytes()) }
      let index = try JSONParser.parse(
        String(decoding: try contents(folder + "/model.safetensors.index.json"), as: UTF8.self))
      #expect(index["metadata"]?["total_size"] == 436)
    }
  }

  @Test func singleShardWritesNoIndexAndReportsStaleFiles() throws {
    let table = try table(fromCase: try shardedCase())
    let folder = try TestPaths.scratchFolder("st-single")
    _ = try SafeTensors.writeSharded(table, directory: folder, maxShardBytes: 100)
    let single = try SafeTensors.writeSharded(table, directory: folder, maxShardBytes: try SafeTensors.parseSize("5GB"))
    #expect(single.files == [folder + "/model.safetensors"])
    let back = try SafeTensors.read(path: folder + "/model.safetensors")
    #expect(back.metadata.keys == ["format", "note", "lm_head.weight"] && back.count == 8)
    // The previous run's five shards and index are not deleted, but reported.
    #expect(single.notes.filter { $0.hasPrefix("stale file") }.count == 6)
    #expect(try FileSystem.contents(of: folder).count == 7)
    // Fewer shards than before: the extra old shards are reported too.
    let three = try SafeTensors.writeSharded(table, directory: folder, maxShardBytes: 200)
    let stale = three.notes.filter { $0.hasPrefix("stale file") }
    #expect(stale.contains { $0.contains("model-00001-of-00005.safetensors") })
    #expect(stale.contains { $0.contains("/model.safetensors'") })
    #expect(!stale.contains { $0.contains("index.json") })
  }

  @Test func oversizedTensorGetsItsOwnShard() throws {
    var table = TensorTable()
    for (name, count) in [("a", 10), ("b", 10), ("huge", 100), ("c", 10)] {
      try table.append(name, Tensor(dtype: .uint8, shape: [count], copying: Array(repeating: 1, count: count)))
    }
    let folder = try TestPaths.scratchFolder("st-oversized")
    let summary = try SafeTensors.writeSharded(table, directory: folder, maxShardBytes: 25, baseName: "w")
    // Like the hub: the oversized tensor's shard comes before the one being filled when it was met.
    #expect(summary.files.count == 4)
    let index = try JSONParser.parse(
      String(decoding: try contents(folder + "/w.safetensors.index.json"), as: UTF8.self))
    #expect(index["weight_map"]?["huge"] == "w-00001-of-00003.safetensors")
    #expect(index["weight_map"]?["a"] == "w-00002-of-00003.safetensors")
    #expect(index["weight_map"]?["c"] == "w-00003-of-00003.safetensors")
    #expect(index["metadata"]?["total_size"] == 130)
    #expect(try SafeTensors.readSharded(path: folder).names == ["huge", "a", "b", "c"])
  }

  /// Copies the hub fixture into a scratch folder and replaces its index.
  func tamperedCopy(_ edit: (inout JSONObject) -> Void) throws -> String {
    let folder = try TestPaths.scratchFolder("st-tamper")
    let fixture = TestPaths.fixture("safetensors/sharded")
    for name in Self.shardNames { try copyFile(fixture + "/" + name, folder + "/" + name) }
    let index = try JSONParser.parse(
      String(decoding: try contents(fixture + "/model.safetensors.index.json"), as: UTF8.self))
    var map = index["weight_map"]?.objectValue ?? JSONObject()
    edit(&map)
    let edited: JSONValue = ["metadata": index["metadata"] ?? nil, "weight_map": .object(map)]
    try FileSystem.writeAll(edited.serializedBytes(.pythonIndent2), to: folder + "/model.safetensors.index.json")
    return folder
  }

  func readError(_ path: String) -> GraftError? {
    do {
      _ = try SafeTensors.readSharded(path: path)
      Issue.record("expected an error")
    } catch { return error }
    return nil
  }

  @Test func indexMismatchesInBothDirections() throws {
    let missingShard = readError(try tamperedCopy { $0["norm"] = "model-00009-of-00009.safetensors" })
    #expect(missingShard?.code == .indexMismatch && missingShard?.tensor == "norm")
    #expect(missingShard?.file?.hasSuffix("/model-00009-of-00009.safetensors") == true)
    #expect(missingShard?.message.contains("does not exist") == true)

    let absent = readError(try tamperedCopy { $0["ghost"] = "model-00001-of-00005.safetensors" })
    #expect(absent?.code == .indexMismatch && absent?.tensor == "ghost")
    #expect(absent?.message.contains("no shard contains it") == true)
    #expect(absent?.message.contains("at byte") == true)

    let unlisted = readError(try tamperedCopy { $0["steps"] = nil })
    #expect(unlisted?.code == .indexMismatch && unlisted?.tensor == "steps")
    #expect(unlisted?.file?.hasSuffix("model-00005-of-00005.safetensors") == true && unlisted?.byteOffset != nil)

    let wrong = readError(try tamperedCopy { $0["norm"] = "model-00001-of-00005.safetensors" })
    #expect(wrong?.code == .indexMismatch && wrong?.tensor == "norm")
    #expect(wrong?.message.contains("stored in 'model-00005-of-00005.safetensors'") == true)

    let escape = readError(try tamperedCopy { $0["norm"] = "../model-00005-of-00005.safetensors" })
    #expect(escape?.code == .indexMismatch)
  }

  @Test func duplicateAcrossShards() throws {
    let folder = try TestPaths.scratchFolder("st-dup")
    var a = TensorTable()
    try a.append("x", Tensor(float32: [1], shape: [1]))
    try a.append("y", Tensor(float32: [2], shape: [1]))
    var b = TensorTable()
    try b.append("y", Tensor(float32: [2], shape: [1]))
    try b.append("z", Tensor(float32: [3], shape: [1]))
    _ = try SafeTensors.write(a, to: folder + "/a.safetensors")
    _ = try SafeTensors.write(b, to: folder + "/b.safetensors")
    let index: JSONValue = [
      "metadata": ["total_size": 12], "weight_map": ["x": "a.safetensors", "y": "a.safetensors", "z": "b.safetensors"],
    ]
    try FileSystem.writeAll(index.serializedBytes(.pythonIndent2), to: folder + "/model.safetensors.index.json")
    let error = readError(folder)
    #expect(error?.code == .indexMismatch && error?.tensor == "y")
    #expect(error?.message.contains("a.safetensors, b.safetensors") == true)
  }

  @Test func folderWithoutCheckpoint() throws {
    let folder = try TestPaths.scratchFolder("st-nothing")
    try FileSystem.writeAll(Array("{}".utf8), to: folder + "/config.json")
    try FileSystem.writeAll(Array("x".utf8), to: folder + "/other.bin")
    let error = readError(folder)
    #expect(error?.code == .unrecognizedFormat && error?.file == folder)
    #expect(error?.message.contains("config.json, other.bin") == true)
    // A folder with only model.safetensors reads it.
    var t = TensorTable()
    try t.append("w", Tensor(float32: [1], shape: [1]))
    _ = try SafeTensors.write(t, to: folder + "/model.safetensors")
    #expect(try SafeTensors.readSharded(path: folder).names == ["w"])
  }
}
