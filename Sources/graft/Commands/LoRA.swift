import ArgumentParser
import Graft

struct LoRACommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "lora", abstract: "Merge PEFT LoRA/DoRA adapters into a base checkpoint, or extract one.",
    subcommands: [Merge.self, Extract.self])

  struct Merge: WorkflowCommand {
    static let configuration = CommandConfiguration(
      abstract: "Merge adapters (W + Σ w·s·B·A; DoRA as peft), verify every layer unmerged vs merged, write.",
      discussion: "Example:\n  graft lora merge llama/ a-lora/:0.7 merged.safetensors --adapter b-lora/:0.3")

    @Argument(help: "The base checkpoint (file or Hugging Face folder).") var base: String
    @Argument(help: "A PEFT adapter folder; append :w to weight it.") var adapter: String
    @Argument(help: "The output path.") var output: String
    @Option(name: .customLong("adapter"), help: "Another adapter folder[:w] (repeatable).") var more: [String] = []
    @Option(help: "For files holding several adapters: the one to merge.") var adapterName: String?
    @OptionGroup var vit: ModelOptions
    @OptionGroup var surgery: SurgeryOptions
    @OptionGroup var printing: PrintOptions

    func workflow() throws -> any WorkflowResult {
      let specs = ([adapter] + more).map(LoRAWorkflow.AdapterSpec.init(parsing:))
      var o = try surgery.apply(to: LoRAWorkflow.MergeOptions(base: base, adapters: specs, output: output))
      (o.merge.adapterName, o.model) = (adapterName, vit.model)
      return try LoRAWorkflow.merge(o)
    }
  }

  struct Extract: WorkflowCommand {
    static let configuration = CommandConfiguration(
      abstract: "Extract a rank-r PEFT adapter (truncated SVD of W_tuned − W_base per Linear) and verify it.",
      discussion: "Example:\n  graft lora extract base.safetensors tuned.safetensors my-lora/ --rank 16")

    @Argument(help: "The base checkpoint.") var base: String
    @Argument(help: "The fine-tuned checkpoint.") var tuned: String
    @Argument(help: "The adapter folder to write.") var output: String
    @Option(help: "The rank r.") var rank: Int
    @Option(help: "Comma-separated modules (default: every differing Linear).") var targetModules: String?
    @Option(help: "The factors' dtype.") var dtype = DType.float32
    @Option(help: "Also write the report as JSON to this path.") var report: String?
    @OptionGroup var verification: VerifyOption
    @OptionGroup var printing: PrintOptions

    func workflow() throws -> any WorkflowResult {
      var o = LoRAWorkflow.ExtractOptions(base: base, tuned: tuned, output: output, rank: rank)
      (o.extract.targetModules, o.extract.dtype) = (
        targetModules.map { $0.split(separator: ",").map(String.init) }, dtype
      )
      (o.verify, o.reportPath) = (!verification.noVerify, report)
      return try LoRAWorkflow.extract(o)
    }
  }
}
