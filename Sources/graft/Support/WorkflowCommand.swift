import ArgumentParser
import Graft

/// A command that maps its flags to a workflow's options and runs it: the result is printed (text or `--json`), a
/// failed check exits 1, and a thrown error is reported by ``Failure``.
protocol WorkflowCommand: ParsableCommand {
  /// How the result is printed and where the output goes.
  var outputOptions: OutputOptions { get }
  /// Runs the workflow.
  func workflow() throws -> any WorkflowResult
}

extension WorkflowCommand {
  func run() throws { try Failure.reporting { try outputOptions.finish(try workflow()) } }

  /// `--to` with an LLM MoE target is for `graft moe upcycle` only; any other command would otherwise fall back to
  /// the output's extension without a word.
  func validate() throws { try outputOptions.refuseLLMTarget() }
}

/// `--no-verify` of every command that proves its output.
struct VerifyOption: ParsableArguments {
  @Flag(name: .customLong("no-verify"), help: "Skip the checks that prove the output (read back, engine, samples).")
  var noVerify = false

  /// Whether to run the checks.
  var verify: Bool { !noVerify }
}

/// The flags of a surgery that reads checkpoints, writes one and proves it.
struct SurgeryOptions: ParsableArguments {
  @OptionGroup var verification: VerifyOption
  @OptionGroup var outputOptions: OutputOptions
  @OptionGroup var reading: ReadingOptions

  /// `options` with its output, reading and verification set from these flags.
  func apply<Options: SurgeryWorkflowOptions>(to options: Options) -> Options {
    var o = options
    o.output = outputOptions.output(o.output.path)
    o.read = reading.readOptions
    o.verify = verification.verify
    return o
  }
}

/// Workflow options that every surgery command fills the same way (see ``SurgeryOptions``).
protocol SurgeryWorkflowOptions {
  var output: WorkflowOutput { get set }
  var read: Checkpoint.ReadOptions { get set }
  var verify: Bool { get set }
}

extension ReparamWorkflow.Options: SurgeryWorkflowOptions {}
extension AverageWorkflow.Options: SurgeryWorkflowOptions {}
extension AverageWorkflow.InterpolationOptions: SurgeryWorkflowOptions {}
extension LoRAWorkflow.MergeOptions: SurgeryWorkflowOptions {}
extension DenoiseRepWorkflow.FuseOptions: SurgeryWorkflowOptions {}
extension MoEWorkflow.Common: SurgeryWorkflowOptions {}
