import Graft
import TestSupport
import Testing

/// The `graft` binary's documented exit statuses: 0 success, 1 a failed comparison, 2 bad input, 3 an unwritable
/// output, 64 bad usage.
@Suite("graft exit statuses", .enabled(if: GraftExecutable.path != nil))
struct ExitStatusTests {
  @Test("inspect of a committed fixture succeeds")
  func inspectSucceeds() throws {
    let r = try GraftExecutable.run(["inspect", TestPaths.fixture("engine/vit_token.safetensors")])
    #expect(r.status == 0, "\(r.stderr)")
  }

  @Test("a file that is no checkpoint exits 2 and names the file")
  func badInput() throws {
    let dir = try TestPaths.scratchFolder("cli-bad")
    let path = dir + "/notes.safetensors"
    try FileSystem.writeAll(Array("not a checkpoint at all".utf8), to: path)
    let r = try GraftExecutable.run(["inspect", path])
    #expect(r.status == 2)
    #expect(r.stderr.contains(path))
  }

  @Test("an output in a missing folder exits 3")
  func unwritableOutput() throws {
    let r = try GraftExecutable.run([
      "convert", TestPaths.fixture("engine/vit_token.safetensors"), "/nonexistent-graft-folder/x.safetensors",
    ])
    #expect(r.status == 3, "\(r.stderr)")
  }

  @Test("an unknown option exits 64")
  func usage() throws {
    let r = try GraftExecutable.run(["convert", "--no-such-option"])
    #expect(r.status == 64)
  }
}
