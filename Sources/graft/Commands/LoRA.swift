import ArgumentParser
import Graft

/// `graft lora`: merge PEFT LoRA/DoRA adapters into a base checkpoint, or extract one from a fine-tune.
struct LoRACommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "lora", abstract: "Merge PEFT LoRA/DoRA adapters into a base checkpoint, or extract one.",
    subcommands: [Merge.self, Extract.self])

  /// `graft lora merge`.
  struct Merge: WorkflowCommand {
    static let configuration = CommandConfiguration(
      abstract: "Merge adapters (W + Σ w·s·B·A; DoRA as peft), verify every layer unmerged vs merged, write.",
      discussion: "Example:\n  graft lora merge llama/ a-lora/:0.7 merged.safetensors --adapter b-lora/:0.3")

    @Argument(help: "The base checkpoint (file or Hugging Face folder).") var base: String
    @Argument(help: "A PEFT adapter folder; append :w to weight it.") var adapter: String
    @Argument(help: "The output path.") var output: String
    @Option(name: .customLong("adapter"), help: "Another adapter folder[:w] (repeatable).") var more: [String] = []
    @Option(name: .customLong("adapter-name"), help: "For files holding several adapters: the one to merge.")
    var adapterName: String?
    @OptionGroup var vit: ModelOptions
    @OptionGroup var surgery: SurgeryOptions
    var outputOptions: OutputOptions { surgery.outputOptions }

    func workflow() throws -> any WorkflowResult {
      let specs = ([adapter] + more).map(LoRAWorkflow.AdapterSpec.init(parsing:))
      var o = surgery.apply(to: LoRAWorkflow.MergeOptions(base: base, adapters: specs, output: output))
      o.merge.adapterName = adapterName
      o.model = vit.model
      return try LoRAWorkflow.merge(o)
    }
  }

  /// `graft lora extract`.
  struct Extract: WorkflowCommand {
    static let configuration = CommandConfiguration(
      abstract: "Extract a rank-r PEFT adapter (truncated SVD of W_tuned − W_base per Linear) and verify it.",
      discussion: "Example:\n  graft lora extract base.safetensors tuned.safetensors my-lora/ --rank 16")

    @Argument(help: "The base checkpoint.") var base: String
    @Argument(help: "The fine-tuned checkpoint.") var tuned: String
    @Argument(help: "The adapter folder to write.") var output: String
    @Option(help: "The rank r.") var rank: Int
    @Option(name: .customLong("target-modules"), help: "Comma-separated modules (default: every differing Linear).")
    var targets: String?
    @Option(help: "The factors' dtype.") var dtype = DType.float32
    @OptionGroup var verification: VerifyOption
    @OptionGroup var outputOptions: OutputOptions

    func workflow() throws -> any WorkflowResult {
      if outputOptions.to != nil { throw ValidationError("--to does not apply: extract writes a PEFT folder") }
      var o = LoRAWorkflow.ExtractOptions(base: base, tuned: tuned, output: output, rank: rank)
      o.extract.targetModules = targets.map { $0.split(separator: ",").map(String.init) }
      o.extract.dtype = dtype
      o.verify = verification.verify
      o.reportPath = outputOptions.report
      return try LoRAWorkflow.extract(o)
    }
  }
}
