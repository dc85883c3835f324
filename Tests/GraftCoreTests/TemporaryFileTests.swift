import GraftCore
import TestSupport
import Testing

@Suite("Temporary files are registered for signal cleanup", .serialized)
struct TemporaryFileTests {
  @Test("a writer's temporary path is registered while it writes and forgotten after commit or abandonment")
  func registration() throws {
    let dir = try TestPaths.scratchFolder("registry")
    var out = try AtomicOutputFile(destination: dir + "/a.bin")
    let temporary = out.temporaryPath
    #expect(TemporaryFiles.registeredPaths.contains(temporary))
    try out.write([1, 2, 3])
    try out.commit()
    #expect(!TemporaryFiles.registeredPaths.contains(temporary))
    do {
      let abandoned = try AtomicOutputFile(destination: dir + "/b.bin")
      #expect(TemporaryFiles.registeredPaths.contains(abandoned.temporaryPath))
    }
    #expect(!TemporaryFiles.registeredPaths.contains { $0.hasSuffix("-b.bin") })
    _ = try AtomicOutputFile.withTemporaryPath(destination: dir + "/c.bin") { path in
      #expect(TemporaryFiles.registeredPaths.contains(path))
      try FileSystem.writeAll([4], to: path)
    }
    #expect(!TemporaryFiles.registeredPaths.contains { $0.hasSuffix("-c.bin") })
  }

  @Test("a staged file stays under its temporary name until installed; discarding removes it")
  func staging() throws {
    let dir = try TestPaths.scratchFolder("staging")
    var first = try AtomicOutputFile(destination: dir + "/one.bin")
    try first.write([1])
    let one = try first.stage()
    var second = try AtomicOutputFile(destination: dir + "/two.bin")
    try second.write([2])
    let two = try second.stage()
    #expect(!FileSystem.exists(dir + "/one.bin") && FileSystem.exists(one.temporaryPath))
    #expect(TemporaryFiles.registeredPaths.contains(one.temporaryPath))
    try one.install()
    two.discard()
    #expect(try FileSystem.contents(of: dir) == ["one.bin"])
    #expect(try FileSystem.readAll(dir + "/one.bin") == [1])
    #expect(!TemporaryFiles.registeredPaths.contains(one.temporaryPath))
    #expect(!TemporaryFiles.registeredPaths.contains(two.temporaryPath))
  }

  @Test("joined paths have one slash")
  func join() {
    #expect(FileSystem.join("out/", "a") == "out/a")
    #expect(FileSystem.join("out//", "a") == "out/a")
    #expect(FileSystem.join("out", "a") == "out/a")
    #expect(FileSystem.join("/", "a") == "/a")
    #expect(FileSystem.join("", "a") == "a")
  }
}
