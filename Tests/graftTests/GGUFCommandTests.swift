import Graft
import TestSupport
import Testing

@Suite("graft convert: Hugging Face ↔ GGUF", .enabled(if: GraftExecutable.path != nil))
struct GGUFCommandTests {
  /// Fixtures/llm/llama's config and weights with the committed SentencePiece tokenizer.
  func modelFolder() throws -> String {
    let out = try TestPaths.scratchFolder("cli-gguf")
    for (from, name) in [
      ("llm/llama", "config.json"), ("llm/llama", "model.safetensors"), ("gguf-llm/tokenizer-spm", "tokenizer.model"),
      ("gguf-llm/tokenizer-spm", "tokenizer_config.json"),
    ] {
      try FileSystem.writeAll(FileSystem.readAll(TestPaths.fixture(from + "/" + name)), to: out + "/" + name)
    }
    return out
  }

  @Test("--dtype Q8_0 writes GGUF from a model folder; back to a folder needs --dtype (exit 2 naming it)")
  func roundTrip() throws {
    let folder = try modelFolder()
    let gguf = folder + "/model.gguf"
    let to = try GraftExecutable.run(["convert", folder, gguf, "--dtype", "Q8_0"])
    #expect(to.status == 0, "\(to.stderr)")
    #expect(to.stdout.contains("GGUF llama") && to.stdout.contains("tokenizer.model"))
    #expect(try GGUFFile.open(path: gguf).value(forKey: "general.file_type") == .uint32(7))
    let refused = try GraftExecutable.run(["convert", gguf, folder + "/hf"])
    #expect(refused.status == 2 && refused.stderr.contains("--dtype") && refused.stderr.contains("Q8_0"))
    #expect(!FileSystem.exists(folder + "/hf/config.json"))
    let back = try GraftExecutable.run(["convert", gguf, folder + "/hf", "--dtype", "F16"])
    #expect(back.status == 0, "\(back.stderr)")
    #expect(back.stdout.contains("dequantized 14 Q8_0 tensors to F16"))
    #expect(
      try HuggingFaceFolder.open(folder + "/hf").table["model.layers.0.self_attn.q_proj.weight"]?.dtype == .float16)
  }

  @Test("a folder without a tokenizer exits 2 naming the files looked for; an unknown --dtype is refused")
  func refusals() throws {
    let folder = try modelFolder()
    FileSystem.remove(folder + "/tokenizer.model")
    let r = try GraftExecutable.run(["convert", folder, folder + "/m.gguf"])
    #expect(r.status == 2 && r.stderr.contains("tokenizer.model") && r.stderr.contains("tokenizer.json"))
    let bad = try GraftExecutable.run(["convert", folder, folder + "/m.gguf", "--dtype", "Q9_9"])
    #expect(bad.status != 0 && bad.stderr.contains("--dtype"))
  }
}
