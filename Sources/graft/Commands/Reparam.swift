import ArgumentParser
import Graft

struct ReparamCommand: WorkflowCommand {
  static let configuration = CommandConfiguration(
    commandName: "reparam",
    abstract: "Fold RepVGG (timm or original naming) and ACB blocks, and with --fold-bn every Conv + BN pair.",
    discussion: """
      Every block is run training-time vs fused in the engine first.

      Example:
        graft reparam repvgg.pth deploy.safetensors --fold-bn --eps 1e-5
      """)

  @OptionGroup var paths: InputOutput
  @Flag(help: "Also fold every Conv/Linear + BatchNorm pair found by name.") var foldBN = false
  @Option(help: "BatchNorm ε (default: metadata bn_eps, else torch's 1e-5, reported as assumed).") var eps: Double?
  @OptionGroup var surgery: SurgeryOptions
  @OptionGroup var printing: PrintOptions

  func workflow() throws -> any WorkflowResult {
    var o = try surgery.apply(to: ReparamWorkflow.Options(input: paths.input, output: paths.output))
    (o.reparam.foldBatchNorm, o.reparam.epsilon) = (foldBN, eps)
    return try ReparamWorkflow.run(o)
  }
}
