import ArgumentParser
import Graft

/// `graft ema`: keep the EMA (or any one state dict) of a training checkpoint, dropping training state.
struct EMACommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "ema", abstract: "Extract the EMA weights of a training checkpoint, dropping optimizer state.",
    subcommands: [Extract.self])

  /// `graft ema extract`.
  struct Extract: WorkflowCommand {
    static let configuration = CommandConfiguration(
      abstract: "Keep one state dict (the EMA unless --source names another), report what is dropped, read back.",
      discussion: "Example:\n  graft ema extract last.pth.tar deploy.safetensors --source state_dict_ema")

    @Argument(help: "The training checkpoint.") var input: String
    @Argument(help: "The output path.") var output: String
    @Option(help: "The state dict to keep (model_ema, state_dict_ema, ema_state, state_dict, module, …).")
    var source: String?
    @Option(name: .customLong("strip-prefix"), help: "Remove this prefix from kept names (repeatable).")
    var stripPrefix: [String] = []
    @OptionGroup var verification: VerifyOption
    @OptionGroup var outputOptions: OutputOptions

    func workflow() throws -> any WorkflowResult {
      var o = EMAWorkflow.Options(input: input, output: output)
      o.output = outputOptions.output(output)
      o.extract.source = source
      o.extract.stripPrefixes = stripPrefix
      o.verify = verification.verify
      return try EMAWorkflow.extract(o)
    }
  }
}
