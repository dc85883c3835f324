import ArgumentParser
import Graft

struct EMACommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "ema", abstract: "Extract the EMA weights of a training checkpoint, dropping optimizer state.",
    subcommands: [Extract.self])

  struct Extract: WorkflowCommand {
    static let configuration = CommandConfiguration(
      abstract: "Keep one state dict (the EMA unless --source names another), report what is dropped, read back.",
      discussion: "Example:\n  graft ema extract last.pth.tar deploy.safetensors --source state_dict_ema")

    @OptionGroup var paths: InputOutput
    @Option(help: "The state dict to keep (model_ema, state_dict_ema, ema_state, state_dict, module, …).")
    var source: String?
    @Option(help: "Remove this prefix from kept names (repeatable).") var stripPrefix: [String] = []
    @OptionGroup var verification: VerifyOption
    @OptionGroup var outputOptions: OutputOptions
    @OptionGroup var printing: PrintOptions

    func workflow() throws -> any WorkflowResult {
      var o = EMAWorkflow.Options(input: paths.input, output: paths.output)
      (o.output, o.verify) = (try outputOptions.output(paths.output), !verification.noVerify)
      (o.extract.source, o.extract.stripPrefixes) = (source, stripPrefix)
      return try EMAWorkflow.extract(o)
    }
  }
}
