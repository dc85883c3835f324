import ArgumentParser
import Graft

/// `graft mrdetr`: Mr.DETR-specific surgery.
struct MrDETRCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "mrdetr",
    abstract: "Mr.DETR surgery: strip the training-only auxiliary routes.",
    subcommands: [MrDETRStripCommand.self])
}

/// `graft mrdetr strip`: removes the auxiliary routes, keeps the primary route byte for byte, and proves it.
struct MrDETRStripCommand: WorkflowCommand {
  static let configuration = CommandConfiguration(
    commandName: "strip",
    abstract:
      "Remove Mr.DETR's auxiliary training routes (Route-1 linear_sep, Route-3 instruction tokens, norm_o2m and "
      + "proposal heads) and keep the primary route.",
    discussion: """
      Every tensor must be in the variant's explicit REMOVE or KEEP list (norm_o2o, the primary route's \
      post-self-attention norm, is kept). Kept tensors are written byte-identical; the heads' decoder aliases \
      (transformer.decoder.class_embed.N = class_embed.N) stay shared in .pth and .graft. Accepts detectron2 \
      training checkpoints (model, trainer, iteration, ema_state) and plain state dicts; writes .pth (nested under \
      "model" for detrex/detectron2), .safetensors or .graft. Unless --no-verify, the output is read back and \
      compared by hash, and the primary route is run on the full and stripped weights, which must agree exactly.

      Examples:
        graft mrdetr strip model_final.pth deploy.pth --variant dino --drop-label-enc
        graft mrdetr strip model.pth deploy.safetensors --use-ema --canonical detrex
      """)

  @Argument(help: "The Mr.DETR checkpoint (.pth training checkpoint, state dict, .safetensors or .graft).")
  var input: String
  @Argument(help: "The output path; its extension picks the format (.pth, .safetensors, .graft).") var output: String
  @Option(help: "The variant (detected from the keys when omitted).") var variant: MrDETRVariant?
  @Flag(name: .customLong("drop-label-enc"), help: "Also remove DINO/Align's training-only CDN embedding label_enc.")
  var dropLabelEnc = false
  @Option(help: "Rename the decoder to another layout (detrex: stock detrex Deformable-DETR names).")
  var canonical = MrDETRLayout.mrdetr
  @Flag(name: .customLong("use-ema"), help: "Keep the EMA weights (ema_state) instead of model.") var useEMA = false
  @Flag(name: .customLong("keep-unknown"), help: "Keep tensors in neither manifest list instead of refusing.")
  var keepUnknown = false
  @Option(name: .customLong("nest-under"), help: "For .pth output: the key to nest the state dict under.")
  var nestUnder = "model"
  @Flag(name: .customLong("flat-pth"), help: "For .pth output: write the bare state dict, not {\"model\": …}.")
  var flatPth = false
  @Option(help: "Attention heads, for the verifying engine (not visible in shapes; 8 in every released config).")
  var heads = 8
  @OptionGroup var verification: VerifyOption
  @OptionGroup var outputOptions: OutputOptions

  func workflow() throws -> any WorkflowResult {
    var o = MrDETRWorkflow.StripOptions(input: input, output: output)
    o.output = outputOptions.output(output)
    o.strip.variant = variant
    o.strip.dropLabelEncoder = dropLabelEnc
    o.strip.layout = canonical
    o.strip.useEMA = useEMA
    o.strip.keepUnknown = keepUnknown
    o.nestUnder = flatPth ? nil : nestUnder
    o.heads = heads
    o.verify = verification.verify
    return try MrDETRWorkflow.strip(o)
  }
}
