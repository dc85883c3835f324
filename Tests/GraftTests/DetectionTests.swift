import Graft
import GraftDemo
import TestSupport
import Testing

@Suite("Format detection diagnoses what a file really is")
struct DetectionTests {
  func write(_ bytes: [UInt8], _ name: String) throws -> String {
    let dir = try TestPaths.scratchFolder("detect")
    try FileSystem.writeAll(bytes, to: dir + "/" + name)
    return dir + "/" + name
  }

  func expectRefusal(_ path: String, mentions text: String, sourceLocation: SourceLocation = #_sourceLocation) {
    do {
      _ = try FormatDetector.detect(path: path)
      Issue.record("expected \(path) to be refused", sourceLocation: sourceLocation)
    } catch {
      #expect(error.file == path, sourceLocation: sourceLocation)
      #expect(error.message.contains(text), "\(error.message)", sourceLocation: sourceLocation)
    }
  }

  @Test("an empty file, a Git LFS pointer and an HTML page get their own message")
  func diagnoses() throws {
    expectRefusal(try write([], "model.safetensors"), mentions: "empty")
    let lfs = "version https://git-lfs.github.com/spec/v1\noid sha256:4d7a\nsize 548105171\n"
    expectRefusal(try write(Array(lfs.utf8), "model.safetensors"), mentions: "Git LFS pointer, not the weights")
    let html = "\n<!DOCTYPE html><html><head><title>Sign in</title></head></html>"
    expectRefusal(try write(Array(html.utf8), "pytorch_model.bin"), mentions: "HTML page")
    // GGUF is read now: detected from its magic, and the truncated header is the reader's to refuse.
    let gguf = try write(Array("GGUF".utf8) + [3, 0, 0, 0], "m.gguf")
    #expect(try FormatDetector.detect(path: gguf).format == .gguf)
    expectRefusal(try write([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], "x.bin"), mentions: "first bytes are 01 02 03")
  }

  @Test("a folder without an index lists what it found")
  func folders() throws {
    let dir = try TestPaths.scratchFolder("detect-dir")
    try FileSystem.writeAll([0], to: dir + "/README.md")
    expectRefusal(dir, mentions: "README.md")
    try Checkpoint.write(DemoModel.vit(), to: dir + "/a.safetensors")
    try Checkpoint.write(DemoModel.vit(), to: dir + "/b.safetensors")
    expectRefusal(dir, mentions: "no model.safetensors.index.json")
  }

  @Test("every format Graft writes is recognised from content, whatever its name")
  func contentNotName() throws {
    let dir = try TestPaths.scratchFolder("detect-formats")
    let table = DemoModel.vit()
    let cases: [(String, CheckpointFormat)] =
      [("a.safetensors", .safetensors), ("b.graft", .graft), ("c.pth", .pytorch), ("d.npz", .npz)]
      + (HDF5Support.isAvailable ? [("e.h5", .hdf5)] : [])
    for (name, format) in cases {
      try Checkpoint.write(table, to: dir + "/" + name)
      let renamed = dir + "/" + name + ".misnamed.bin"
      try FileSystem.writeAll(try FileSystem.readAll(dir + "/" + name), to: renamed)
      #expect(try FormatDetector.detect(path: renamed).format == format, "\(name)")
    }
  }
}
