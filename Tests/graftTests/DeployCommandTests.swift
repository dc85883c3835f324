import Graft
import TestSupport
import Testing

/// Each deployment command once through the binary: exit status, the written file, the `--json` report.
@Suite("graft deployment commands", .enabled(if: GraftExecutable.path != nil))
struct DeployCommandTests {
  static func fixture(_ name: String) -> String { TestPaths.fixture("deploy/" + name) }

  /// Runs graft with `--json`, expecting success and a passing verification object.
  func run(_ arguments: [String]) throws -> JSONObject? {
    let r = try GraftExecutable.run(arguments + ["--json"])
    #expect(r.status == 0, "\(arguments): \(r.stderr)")
    let report = try? JSONParser.parse(r.stdout).objectValue
    #expect(report?["verification"]?.objectValue?["passed"]?.boolValue == true, "\(arguments)")
    return report
  }

  @Test("lora merge (two weighted adapters) and lora extract")
  func lora() throws {
    let dir = try TestPaths.scratchFolder("cli-lora")
    _ = try run([
      "lora", "merge", Self.fixture("vit-base.safetensors"), Self.fixture("vit-lora-a") + ":0.7",
      dir + "/m.safetensors", "--adapter", Self.fixture("vit-lora-b") + ":0.3", "--heads", "2",
    ])
    #expect(FileSystem.exists(dir + "/m.safetensors"))
    _ = try run([
      "lora", "extract", Self.fixture("vit-base.safetensors"), dir + "/m.safetensors", dir + "/x", "--rank", "6",
      "--target-modules", "qkv,fc2",
    ])
    #expect(FileSystem.exists(dir + "/x/adapter_config.json"))
  }

  @Test("reparam --fold-bn, ema extract, average and interpolate")
  func others() throws {
    let dir = try TestPaths.scratchFolder("cli-deploy")
    _ = try run(["reparam", Self.fixture("convbn.safetensors"), dir + "/c.safetensors", "--fold-bn", "--eps", "1e-5"])
    let ema = try run(["ema", "extract", Self.fixture("ema-lightning.ckpt"), dir + "/e.safetensors"])
    #expect(ema?["ema"]?.objectValue?["source"]?.objectValue?["path"]?.stringValue?.hasPrefix("callbacks.") == true)
    let avg = (0..<3).map { Self.fixture("avg-\($0).pth") }
    _ = try run(["average"] + avg + ["-o", dir + "/a.safetensors", "--weights", "0.2,0.3,0.5"])
    _ = try run(["interpolate", avg[0], avg[1], "-o", dir + "/i.safetensors", "--t", "0.3", "--slerp"])
    let missing = try GraftExecutable.run(["ema", "extract", Self.fixture("ema-two.pth"), dir + "/f.safetensors"])
    #expect(missing.status == 64 && missing.stderr.contains("--source"))
  }
}
