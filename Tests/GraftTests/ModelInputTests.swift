import Graft
import GraftDemo
import TestSupport
import Testing

/// Run, check and upcycle take an image checkpoint or a language model and decide by the input; an option of the other
/// kind is refused naming it, so that the CLI can name the flag (issue 13: that choice used to live in the CLI).
@Suite("Workflows that take either kind of model refuse the other kind's options")
struct ModelInputTests {
  static func inputs(_ label: String) throws -> (folder: String, vit: String) {
    let folder = try LLMWorkflowTests.denseFolder(label)
    let vit = String(folder.dropLast("/dense".count)) + "/vit.safetensors"
    try Checkpoint.write(DemoModel.vit(), to: vit)
    return (folder, vit)
  }

  static func refusedOption(_ body: () throws -> Void) -> String? {
    do { try body() } catch let error as GraftError { return error.code == .invalidArgument ? error.option : nil } catch
    {
      return nil
    }
    return nil
  }

  @Test("run: image inputs and ViT options on a folder, tokens on an image checkpoint; each kind still runs")
  func run() throws {
    let (folder, vit) = try Self.inputs("model-input-run")
    var o = RunWorkflow.Options(checkpoint: folder)
    o.tokens = [[1, 2, 3]]
    #expect(try RunWorkflow.execute(o).lines.contains { $0.contains("pos 2 token 3") })
    o.input = .random(batch: 2, seed: 0)
    #expect(Self.refusedOption { _ = try RunWorkflow.execute(o) } == "random")
    o.input = nil
    o.model.heads = 2
    #expect(Self.refusedOption { _ = try RunWorkflow.execute(o) } == "heads")
    var image = RunWorkflow.Options(checkpoint: vit)
    #expect(try RunWorkflow.execute(image).passed)
    image.generate = 2
    #expect(Self.refusedOption { _ = try RunWorkflow.execute(image) } == "generate")
  }

  @Test("run: a GGUF language model runs on tokens like its folder, with the same logits (F32 GGUF: exact)")
  func runGGUF() throws {
    let folder = try GGUFModels.folder("llama")
    let gguf = try TestPaths.scratchFolder("model-input-gguf") + "/f32.gguf"
    var c = ConversionOptions()
    try c.setDType(named: "F32")
    try Conversion.run(input: folder, output: gguf, options: c)
    #expect(ModelInput.isLanguageModel(gguf) && !ModelInput.isModelFolder(gguf))
    var o = RunWorkflow.Options(checkpoint: gguf)
    o.tokens = [[1, 2, 3]]
    let fromGGUF = try #require(try RunWorkflow.execute(o) as? LLMRunWorkflow.Result)
    o.checkpoint = folder
    let fromFolder = try #require(try RunWorkflow.execute(o) as? LLMRunWorkflow.Result)
    #expect(fromGGUF.logits.values == fromFolder.logits.values)
  }

  @Test("check: ViT options on model folders are refused")
  func check() throws {
    let (folder, _) = try Self.inputs("model-input-check")
    var options = CheckOptions()
    options.model.globalPool = .avg
    #expect(
      Self.refusedOption { _ = try CheckWorkflow.compare(before: folder, after: folder, options: options) }
        == "globalPool")
  }

  @Test("upcycle: a folder needs a target and refuses ViT settings; a ViT refuses folder settings; nothing is written")
  func upcycle() throws {
    let (folder, vit) = try Self.inputs("model-input-upcycle")
    let out = String(folder.dropLast("/dense".count)) + "/out"
    var f = MoEWorkflow.FolderOptions()
    let onFolder = MoEWorkflow.UpcycleOptions(input: folder, output: out)
    #expect(Self.refusedOption { _ = try MoEWorkflow.upcycleDetected(onFolder, folder: f) } == "target")
    f.target = .mixtral
    var gated = onFolder
    gated.upcycle.gate = .softmaxTopK
    #expect(Self.refusedOption { _ = try MoEWorkflow.upcycleDetected(gated, folder: f) } == "gate")
    f.dropRatio = 0.5
    #expect(
      Self.refusedOption { _ = try MoEWorkflow.upcycleDetected(.init(input: vit, output: out), folder: f) } == "target")
    f.target = nil
    #expect(
      Self.refusedOption { _ = try MoEWorkflow.upcycleDetected(.init(input: vit, output: out), folder: f) }
        == "dropRatio")
    #expect(!FileSystem.exists(out))
    var small = onFolder
    small.upcycle.experts = 2
    var mixtral = MoEWorkflow.FolderOptions()
    mixtral.target = .mixtral
    let result = try MoEWorkflow.upcycleDetected(small, folder: mixtral)
    #expect(result.passed && FileSystem.exists(out + "/config.json"))
  }
}
