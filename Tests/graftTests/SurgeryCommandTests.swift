import Graft
import GraftDemo
import TestSupport
import Testing

/// Each surgery command end to end through the binary: exit status, the written file, the `--json` report.
@Suite("graft surgery commands", .enabled(if: GraftExecutable.path != nil))
struct SurgeryCommandTests {
  /// Runs graft and parses its standard output as JSON.
  func json(_ arguments: [String]) throws -> (status: Int32, report: JSONObject?, stderr: String) {
    let r = try GraftExecutable.run(arguments + ["--json"])
    return (r.status, try? JSONParser.parse(r.stdout).objectValue, r.stderr)
  }

  @Test("moe upcycle writes a verified MoE and reports every check as JSON")
  func moeUpcycle() throws {
    let dir = try TestPaths.scratchFolder("cli-moe")
    try Checkpoint.write(DemoModel.vit(), to: dir + "/vit.safetensors")
    let r = try json([
      "moe", "upcycle", dir + "/vit.safetensors", dir + "/moe.safetensors", "--experts", "4", "--top-k", "2",
      "--heads", "2",
    ])
    #expect(r.status == 0, "\(r.stderr)")
    let checks = try #require(r.report?["verification"]?.objectValue)
    #expect(checks["passed"]?.boolValue == true)
    #expect((checks["rows"]?.arrayValue?.count ?? 0) > 3)
    #expect(try Checkpoint.read(path: dir + "/moe.safetensors").names.contains("blocks.0.mlp.router.weight"))
    // No manifest unless asked for.
    #expect(!FileSystem.exists(dir + "/moe.safetensors.moe.json"))
  }

  @Test("moe recycle with a manifest path writes the manifest next to the output")
  func moeRecycle() throws {
    let dir = try TestPaths.scratchFolder("cli-recycle")
    try Checkpoint.write(DemoModel.vit(), to: dir + "/vit.safetensors")
    let r = try GraftExecutable.run([
      "moe", "recycle", dir + "/vit.safetensors", dir + "/moe.graft", "--experts", "4", "--ratio", "0.25",
      "--strategy", "importance-weight", "--manifest", dir + "/moe.json", "--heads", "2", "-q",
    ])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(FileSystem.exists(dir + "/moe.graft") && FileSystem.exists(dir + "/moe.json"))
  }

  @Test("a bad option value exits 64 and names the flag")
  func badOption() throws {
    let r = try GraftExecutable.run(["moe", "upcycle", "a.safetensors", "b.safetensors", "--router", "bogus"])
    #expect(r.status == 64)
    #expect(r.stderr.contains("--router"))
  }

  @Test("denoiserep fuse and strip on the committed fixtures")
  func denoiseRep() throws {
    let dir = try TestPaths.scratchFolder("cli-denoiserep")
    let fuse = try json([
      "denoiserep", "fuse", TestPaths.fixture("denoiserep/reid-unfused.safetensors"), dir + "/fused.safetensors",
      "--ignore-unused",
    ])
    #expect(fuse.status == 0, "\(fuse.stderr)")
    #expect(fuse.report?["verification"]?.objectValue?["passed"]?.boolValue == true)
    let strip = try GraftExecutable.run([
      "denoiserep", "strip", TestPaths.fixture("denoiserep/released.safetensors"), dir + "/clean.safetensors",
    ])
    #expect(strip.status == 0, "\(strip.stderr)")
    #expect(strip.stdout.contains("stripped"))
  }

  @Test("mrdetr strip of a torch-made training checkpoint proves the primary route")
  func mrdetr() throws {
    let dir = try TestPaths.scratchFolder("cli-mrdetr")
    let r = try json([
      "mrdetr", "strip", TestPaths.fixture("mrdetr/tiny_train.pth"), dir + "/deploy.pth", "--heads", "4",
    ])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.report?["verified"]?.boolValue == true)
  }

  @Test("check exits 1 when a cast is outside the default tolerance, 0 within a loose one")
  func check() throws {
    let dir = try TestPaths.scratchFolder("cli-check")
    try Checkpoint.write(DemoModel.vit(), to: dir + "/vit.safetensors")
    let cast = try GraftExecutable.run([
      "convert", dir + "/vit.safetensors", dir + "/bf16.safetensors", "--dtype", "BF16", "-q",
    ])
    #expect(cast.status == 0, "\(cast.stderr)")
    let strict = try GraftExecutable.run(["check", dir + "/vit.safetensors", dir + "/bf16.safetensors", "--heads", "2"])
    #expect(strict.status == 1)
    #expect(strict.stdout.contains("FAIL"))
    let loose = try json([
      "check", dir + "/vit.safetensors", dir + "/bf16.safetensors", "--heads", "2", "--rtol", "5e-2",
    ])
    #expect(loose.status == 0, "\(loose.stderr)")
    #expect(loose.report?["passed"]?.boolValue == true)
  }
}
