import Graft
import TestSupport
import Testing

/// The ViT architecture flags through the binary: values with their sources, refusals naming the flags, a config.json
/// beside the checkpoint, and `check` refusing a model it does not understand.
@Suite("graft run / check: the ViT architecture", .enabled(if: GraftExecutable.path != nil))
struct ViTCommandTests {
  /// A sweep fixture without metadata: timm global_pool='max' (its flags are in cases.jsonl).
  let bare = TestPaths.fixture("vit_sweep/max_pool.safetensors")

  @Test("run refuses an undetermined architecture naming every flag, and runs with them, printing each source")
  func runFlags() throws {
    let refused = try GraftExecutable.run(["run", bare])
    #expect(refused.status == 2)
    for flag in ["--global-pool", "--heads", "--act", "--norm-eps"] {
      #expect(refused.stderr.contains(flag), "\(flag)")
    }
    let ran = try GraftExecutable.run([
      "run", bare, "--global-pool", "max", "--heads", "2", "--act", "gelu", "--norm-eps", "1e-6",
      "--pool-include-prefix", "false",
    ])
    #expect(ran.status == 0, "\(ran.stderr)")
    #expect(ran.stdout.contains("  global_pool = max (given)"))
    #expect(ran.stdout.contains("  embed_dim = 24 (inferred from patch_embed.proj.weight [24, 3, 4, 4])"))
  }

  @Test("--assume-defaults runs and prints every guess as ASSUMED")
  func assumed() throws {
    let r = try GraftExecutable.run(["run", bare, "--assume-defaults"])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stdout.contains("global_pool = avg (ASSUMED avg (fc_norm present))"))
    #expect(r.stdout.contains("act_layer = gelu (ASSUMED gelu (timm's default))"))
  }

  @Test("check refuses two checkpoints of an architecture it does not fully understand: no PASS")
  func checkRefuses() throws {
    let r = try GraftExecutable.run(["check", bare, bare])
    #expect(r.status == 2)
    #expect(!r.stdout.contains("PASS"))
    #expect(r.stderr.contains("--global-pool"))
  }

  @Test("a config.json beside the checkpoint names the architecture (timm hub layout)")
  func configBeside() throws {
    let dir = try TestPaths.scratchFolder("cli-vit-config")
    let name = "vit_base_patch16_clip_224"
    try FileSystem.writeAll(
      try FileSystem.readAll(TestPaths.fixture("vit_sweep/\(name).safetensors")), to: dir + "/model.safetensors")
    let config =
      #"{"architecture": "vit_base_patch16_clip_224.openai", "num_classes": 5, "#
      + #""model_args": {"embed_dim": 16, "depth": 2, "num_heads": 2, "num_classes": 5, "img_size": 32}}"#
    try FileSystem.writeAll(Array(config.utf8), to: dir + "/config.json")
    let r = try GraftExecutable.run(["run", dir + "/model.safetensors", "--json"])
    #expect(r.status == 0, "\(r.stderr)")
    let json = try JSONParser.parse(r.stdout)
    #expect(json["architecture_metadata"]?.stringValue == dir + "/config.json")
    let eps = json["configuration"]?["norm_eps"]
    #expect(eps?["value"]?.doubleValue == 1e-5)
    #expect(eps?["detail"]?.stringValue == "timm vit_base_patch16_clip_224 (config.json architecture)")
    let checked = try GraftExecutable.run(["check", dir + "/model.safetensors", dir + "/model.safetensors"])
    #expect(checked.status == 0, "\(checked.stderr)")
    #expect(checked.stdout.contains("architecture metadata (before): \(dir)/config.json"))
    #expect(checked.stdout.contains("configuration after: the same"))
  }
}
