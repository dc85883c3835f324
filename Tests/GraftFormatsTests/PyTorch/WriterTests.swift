import GraftCore
import GraftFormats
import TestSupport
import Testing

@Suite struct PyTorchWriterTests {
  @Test func roundTripKeepsBytesAliasesAndAlignment() throws {
    let source = try PyTorchCheckpoint.read(path: TestPaths.fixture("pytorch/views.pth"))
    let folder = try TestPaths.scratchFolder("pytorch")
    let out = folder + "/views.pth"
    let summary = try PyTorchCheckpoint.write(source, to: out)
    #expect(summary.storedTensorCount == source.storedEntries.count)
    let back = try PyTorchCheckpoint.open(path: out)
    #expect(back.formatDescription.contains("top folder 'archive'"))
    let table = try back.table(select: nil, stripPrefixes: [])
    try ExpectedTensors("pytorch/views.pth").check(table)
    #expect(Set(table.aliases.map(\.alias)) == Set(source.aliases.map(\.alias)))
    let zip = try ZipArchive(path: out)
    #expect(
      zip.entries.map(\.name).prefix(4) == [
        "archive/data.pkl", "archive/.format_version", "archive/.storage_alignment", "archive/byteorder",
      ])
    #expect(zip.entries.last?.name == "archive/.data/serialization_id")
    for e in zip.entries {
      #expect(e.dataOffset % 64 == 0, "\(e.name) is not 64-byte aligned")
      try zip.verifyChecksum(e)
    }
  }

  @Test func everyDTypeAndNesting() throws {
    let source = try PyTorchCheckpoint.read(path: TestPaths.fixture("pytorch/dtypes.pth"))
    let folder = try TestPaths.scratchFolder("pytorch")
    var options = PyTorchCheckpoint.WriteOptions()
    options.nestUnder = "model"
    let out = folder + "/dtypes.pth"
    _ = try PyTorchCheckpoint.write(source, to: out, options: options)
    let archive = try PyTorchCheckpoint.open(path: out)
    #expect(archive.stateDictCandidates.map(\.path) == ["model"])
    try ExpectedTensors("pytorch/dtypes.pth").check(try archive.table(select: nil, stripPrefixes: []))
  }

  @Test func outputIsDeterministic() throws {
    let source = try PyTorchCheckpoint.read(path: TestPaths.fixture("pytorch/vit_tiny.pth"))
    let folder = try TestPaths.scratchFolder("pytorch")
    let progress = ProgressCounter()
    _ = try PyTorchCheckpoint.write(source, to: folder + "/a.pth", progress: progress)
    _ = try PyTorchCheckpoint.write(source, to: folder + "/b.pth")
    #expect(try FileSystem.readAll(folder + "/a.pth") == FileSystem.readAll(folder + "/b.pth"))
    #expect(progress.snapshot.done == source.storedByteCount)
    #expect(progress.snapshot.total == source.storedByteCount)
  }

  @Test func refusesToOverwriteItsInput() throws {
    let folder = try TestPaths.scratchFolder("pytorch")
    let path = folder + "/in.pth"
    try FileSystem.writeAll(try FileSystem.readAll(TestPaths.fixture("pytorch/vit_tiny.pth")), to: path)
    let table = try PyTorchCheckpoint.read(path: path)
    let e = graftError { _ = try PyTorchCheckpoint.write(table, to: path, inputs: [path]) }
    #expect(e?.code == .invalidArgument)
  }
}

@Suite struct NumPyTests {
  @Test func npzStoredAndCompressedMatchNumPy() throws {
    let expected = try ExpectedTensors("numpy/arrays")
    for name in ["arrays.npz", "compressed.npz"] {
      let table = try NumPyFormat.readNPZ(path: TestPaths.fixture("numpy/" + name))
      try expected.check(table)
    }
    let stored = try NumPyFormat.readNPZ(path: TestPaths.fixture("numpy/arrays.npz"))
    #expect(stored["f32"]?.bytes.contiguousBytes != nil)
    #expect(stored["fortran"]?.bytes.contiguousBytes == nil)
  }

  @Test func npyFilesMatchNumPy() throws {
    let expected = try ExpectedTensors("numpy/arrays")
    for name in ["f32", "fortran", "f64_be", "scalar"] {
      let t = try NumPyFormat.readNPY(path: TestPaths.fixture("numpy/\(name).npy"))
      let item = try #require(expected.items.first { $0.name == name })
      #expect(t.dtype.rawValue == item.dtype)
      #expect(t.shape == item.shape)
      #expect(try t.readAllBytes() == item.bytes)
    }
    let e = graftError { _ = try NumPyFormat.readNPY(path: TestPaths.fixture("numpy/object.npy")) }
    #expect(e?.code == .unsupported)
  }

  @Test func bf16AndFP8RoundTripWithRecordedDType() throws {
    let source = try PyTorchCheckpoint.read(path: TestPaths.fixture("pytorch/dtypes.pth"))
    let folder = try TestPaths.scratchFolder("numpy")
    let summary = try NumPyFormat.writeNPZ(source, to: folder + "/d.npz")
    #expect(summary.storedTensorCount == source.count)
    let back = try NumPyFormat.readNPZ(path: folder + "/d.npz")
    try ExpectedTensors("pytorch/dtypes.pth").check(back)
    let bf16 = try #require(source["bf16"])
    _ = try NumPyFormat.writeNPY(bf16, to: folder + "/b.npy")
    let header = String(decoding: try FileSystem.readAll(folder + "/b.npy").prefix(128), as: UTF8.self)
    #expect(header.contains("'descr': '|V2'") && header.contains("# graft-dtype: BF16"))
    let t = try NumPyFormat.readNPY(path: folder + "/b.npy")
    #expect(t.dtype == .bfloat16)
    #expect(try t.readAllBytes() == bf16.readAllBytes())
    #expect(try FileSystem.readAll(folder + "/b.npy").count % 64 == 0 || bf16.byteCount % 64 != 0)
  }
}
