import Graft
import GraftDemo
import TestSupport
import Testing

/// `run`, `check` and `moe upcycle` on Hugging Face model folders, through the binary.
@Suite("graft on LLM folders", .enabled(if: GraftExecutable.path != nil))
struct LLMCommandTests {
  static func dense(_ label: String) throws -> String {
    let dir = try TestPaths.scratchFolder(label)
    let (table, config) = try LLMDemo.model()
    try HuggingFaceFolder.write(table, config: config, to: dir + "/llama")
    return dir
  }

  @Test("run --tokens --generate writes the logits and prints the continuation")
  func run() throws {
    let dir = try Self.dense("cli-llm-run")
    let r = try GraftExecutable.run([
      "run", dir + "/llama", "--tokens", "1,2,3", "--generate", "3", "--output", dir + "/logits.npy",
    ])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stdout.contains("generated [0]: ") && r.stdout.contains("pos 2 token 3 → "))
    #expect(try FloatTensorFile.read(dir + "/logits.npy").shape == [1, 3, 64])
    let wrong = try GraftExecutable.run(["run", dir + "/llama", "--tokens", "1,2", "--random", "2"])
    #expect(wrong.status == 64 && wrong.stderr.contains("--random"))
  }

  @Test(
    "moe upcycle --to mixtral writes a verified folder; check on the two folders passes; --to mixtral on a ViT is refused"
  )
  func upcycleAndCheck() throws {
    let dir = try Self.dense("cli-llm-moe")
    let r = try GraftExecutable.run([
      "moe", "upcycle", dir + "/llama", dir + "/mixtral", "--to", "mixtral", "--experts", "4", "--top-k", "2", "--json",
    ])
    #expect(r.status == 0, "\(r.stderr)")
    let report = try #require(try JSONParser.parse(r.stdout).objectValue)
    #expect(report["verification"]?["passed"] == true && report["engine"]?["passed"] == true)
    #expect(try HuggingFaceFolder.open(dir + "/mixtral").config["num_local_experts"] == 4)
    let check = try GraftExecutable.run(["check", dir + "/llama", dir + "/mixtral", "--tokens-per-sequence", "6"])
    #expect(check.status == 0, "\(check.stderr)")
    #expect(check.stdout.contains("logits") && check.stdout.contains("KL max"))
    try Checkpoint.write(DemoModel.vit(), to: dir + "/vit.safetensors")
    let vit = try GraftExecutable.run(["moe", "upcycle", dir + "/vit.safetensors", dir + "/x", "--to", "mixtral"])
    #expect(vit.status == 64 && vit.stderr.contains("applies to model folders") && vit.stderr.contains("(--to)"))
    let folder = try GraftExecutable.run(["moe", "upcycle", dir + "/llama", dir + "/y"])
    #expect(folder.status == 64 && folder.stderr.contains("mixtral|qwen2-moe|qwen3-moe (--to)"))
    let convert = try GraftExecutable.run([
      "convert", dir + "/vit.safetensors", dir + "/z.safetensors", "--to", "qwen2-moe",
    ])
    #expect(convert.status == 64 && !FileSystem.exists(dir + "/z.safetensors"))
    // Every other command that writes a checkpoint refuses an LLM target too, instead of going by the extension.
    for args in [
      ["ema", "extract", dir + "/vit.safetensors"], ["reparam", dir + "/vit.safetensors"],
      ["average", dir + "/vit.safetensors", dir + "/vit.safetensors", "--output"],
    ] {
      let r = try GraftExecutable.run(args + [dir + "/w.safetensors", "--to", "mixtral"])
      #expect(r.status == 64 && r.stderr.contains("--to mixtral"), "\(args): \(r.stderr)")
      #expect(!FileSystem.exists(dir + "/w.safetensors"))
    }
  }
}
