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

  @Test(
    "diff and verify: 0 when equal or valid, 1 with the report when not; --quiet prints only a failure, --json parses")
  func comparisons() throws {
    let dir = try TestPaths.scratchFolder("cli-diff-verify")
    let a = TestPaths.fixture("engine/vit_token.safetensors")
    #expect(try GraftExecutable.run(["convert", a, dir + "/a.graft"]).status == 0)
    let same = try GraftExecutable.run(["diff", a, dir + "/a.graft", "--quiet"])
    #expect(same.status == 0 && same.stdout.isEmpty, "\(same.stderr)")
    #expect(try GraftExecutable.run(["convert", a, dir + "/b.safetensors", "--dtype", "BF16"]).status == 0)
    let different = try GraftExecutable.run(["diff", a, dir + "/b.safetensors", "--quiet"])
    #expect(different.status == 1 && different.stdout.contains("DIFFERENT"))
    let json = try GraftExecutable.run(["diff", a, dir + "/b.safetensors", "--json"])
    let report = try JSONParser.parse(json.stdout).objectValue
    #expect(json.status == 1 && report?["matches"] == false)

    #expect(try GraftExecutable.run(["verify", dir + "/a.graft", "--quiet"]).stdout.isEmpty)
    var bytes = try FileSystem.readAll(dir + "/a.graft")
    bytes[bytes.count / 2] ^= 0xFF  // a byte inside some tensor's data: its checksum no longer matches
    try FileSystem.writeAll(bytes, to: dir + "/bad.graft")
    let bad = try GraftExecutable.run(["verify", dir + "/bad.graft", "--quiet"])
    #expect(bad.status == 1 && !bad.stdout.isEmpty, "\(bad.stderr)")
  }
}

/// `taskset -c 0 graft …` (or a one-CPU container) runs one engine thread, not one per processor of the machine.
@Suite(
  "graft follows the CPU affinity",
  .enabled(if: GraftExecutable.path != nil && FileSystem.exists("/usr/bin/taskset")))
struct AffinityTests {
  @Test("run under taskset -c 0 reports one thread")
  func oneCPU() throws {
    let graft = try #require(GraftExecutable.path)
    let r = try ChildProcess.run(
      "/usr/bin/taskset",
      ["-c", "0", graft, "run", TestPaths.fixture("engine/vit_token.safetensors"), "--random", "1"],
      seconds: 120)
    let text = String(decoding: r.output, as: UTF8.self)
    #expect(r.outcome == .exited(0) && text.contains(", 1 threads"), "\(text)")
  }
}
