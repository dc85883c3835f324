import ArgumentParser
import Graft

/// `graft reparam`: fold RepVGG / ACB blocks and Conv + BatchNorm pairs for deployment.
struct ReparamCommand: WorkflowCommand {
  static let configuration = CommandConfiguration(
    commandName: "reparam",
    abstract: "Fold RepVGG (timm or original naming) and ACB blocks, and with --fold-bn every Conv + BN pair.",
    discussion: """
      Every block is run training-time vs fused in the engine first.

      Example:
        graft reparam repvgg.pth deploy.safetensors --fold-bn --eps 1e-5
      """)

  @Argument(help: "The training-time checkpoint.") var input: String
  @Argument(help: "The output path.") var output: String
  @Flag(name: .customLong("fold-bn"), help: "Also fold every Conv/Linear + BatchNorm pair found by name.")
  var foldBN = false
  @Option(help: "BatchNorm ε (default: metadata bn_eps, else torch's 1e-5, reported as assumed).") var eps: Double?
  @OptionGroup var surgery: SurgeryOptions
  var outputOptions: OutputOptions { surgery.outputOptions }

  func workflow() throws -> any WorkflowResult {
    var o = surgery.apply(to: ReparamWorkflow.Options(input: input, output: output))
    o.reparam.foldBatchNorm = foldBN
    o.reparam.epsilon = eps
    return try ReparamWorkflow.run(o)
  }
}
