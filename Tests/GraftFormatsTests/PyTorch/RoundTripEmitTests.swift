import GraftCore
import GraftFormats
import TestSupport
import Testing

/// Writes Graft-made `.pth`/`.npz` files for `scripts/fixtures/pytorch.py verify`.
///
/// The files go into `$GRAFT_PYTORCH_EMIT_DIR`; the script loads them with `torch.load(weights_only=True)`.
/// Skipped when the variable is unset (CI).
@Suite struct RoundTripEmitTests {
  @Test func emitFilesForTorch() throws {
    guard let folder = FileSystem.environment("GRAFT_PYTORCH_EMIT_DIR") else { return }
    try FileSystem.makeDirectory(folder)
    var manifest: [JSONValue] = []
    func emit(_ file: String, expected: String, nest: String? = nil) {
      var o = JSONObject()
      o["file"] = .string(file)
      o["expected"] = .string(expected)
      if let nest { o["nest"] = .string(nest) }
      manifest.append(.object(o))
    }
    for name in ["vit_tiny", "views", "dtypes"] {
      let table = try PyTorchCheckpoint.read(path: TestPaths.fixture("pytorch/\(name).pth"))
      _ = try PyTorchCheckpoint.write(table, to: folder + "/\(name).pth")
      emit("\(name).pth", expected: "pytorch/\(name).pth")
    }
    let legacy = try PyTorchCheckpoint.read(path: TestPaths.fixture("pytorch/legacy.pth"))
    _ = try PyTorchCheckpoint.write(legacy, to: folder + "/legacy_to_zip.pth")
    emit("legacy_to_zip.pth", expected: "pytorch/legacy.pth")
    let d2 = try PyTorchCheckpoint.read(path: TestPaths.fixture("pytorch/detectron2.pth"))
    var options = PyTorchCheckpoint.WriteOptions()
    options.nestUnder = "model"
    _ = try PyTorchCheckpoint.write(d2, to: folder + "/detectron2_model.pth", options: options)
    emit("detectron2_model.pth", expected: "pytorch/detectron2.pth", nest: "model")
    let arrays = try NumPyFormat.readNPZ(path: TestPaths.fixture("numpy/compressed.npz"))
    _ = try NumPyFormat.writeNPZ(arrays, to: folder + "/arrays.npz")
    emit("arrays.npz", expected: "numpy/arrays")
    let dtypes = try PyTorchCheckpoint.read(path: TestPaths.fixture("pytorch/dtypes.pth"))
    _ = try NumPyFormat.writeNPZ(dtypes, to: folder + "/dtypes.npz")
    emit("dtypes.npz", expected: "pytorch/dtypes.pth")
    try FileSystem.writeAll(JSONValue.array(manifest).serializedBytes(), to: folder + "/manifest.json")
    #expect(FileSystem.exists(folder + "/manifest.json"))
  }
}

/// Times opening the large checkpoint named by `$GRAFT_PYTORCH_BENCH_FILE`.
///
/// Opening must be header-only + mmap. Skipped when the variable is unset.
@Suite struct LargeFileTimingTests {
  @Test func openIsHeaderOnly() throws {
    guard let path = FileSystem.environment("GRAFT_PYTORCH_BENCH_FILE") else { return }
    let start = FileSystem.monotonicNanoseconds()
    let zip = try ZipArchive(path: path)
    let t0 = FileSystem.monotonicNanoseconds()
    let archive = try PyTorchCheckpoint.open(path: path)
    let t1 = FileSystem.monotonicNanoseconds()
    let table = try archive.table(select: nil, stripPrefixes: [])
    let t2 = FileSystem.monotonicNanoseconds()
    _ = archive.treeDescription(maxDepth: 2)
    let t3 = FileSystem.monotonicNanoseconds()
    func ms(_ a: UInt64, _ b: UInt64) -> Double { Double(b - a) / 1e6 }
    FileSystem.writeToStandardError(
      "opened \(table.count) tensors, \(table.storedByteCount) bytes: zip \(ms(start, t0)) ms, open \(ms(t0, t1)) ms, "
        + "table \(ms(t1, t2)) ms, tree \(ms(t2, t3)) ms (\(zip.entries.count) members)\n")
    #expect(table.count > 0)
  }
}
