import ArgumentParser
import Graft

struct MrDETRCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "mrdetr",
    abstract: "Mr.DETR surgery: strip the training-only auxiliary routes.",
    subcommands: [Strip.self])

  struct Strip: WorkflowCommand {
    static let configuration = CommandConfiguration(
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

    @OptionGroup var paths: InputOutput
    @Option(help: "The variant (detected from the keys when omitted).") var variant: MrDETRVariant?
    @Flag(help: "Also remove DINO/Align's training-only CDN embedding label_enc.") var dropLabelEnc = false
    @Option(help: "Rename the decoder to another layout (detrex: stock detrex Deformable-DETR names).")
    var canonical = MrDETRLayout.mrdetr
    @Flag(help: "Keep the EMA weights (ema_state) instead of model.") var useEMA = false
    @Flag(help: "Keep tensors in neither manifest list instead of refusing.") var keepUnknown = false
    @Option(help: "For .pth output: the key to nest the state dict under.") var nestUnder = "model"
    @Flag(help: "For .pth output: write the bare state dict, not {\"model\": …}.") var flatPth = false
    @Option(help: "Attention heads, for the verifying engine (not visible in shapes; 8 in every released config).")
    var heads = 8
    @OptionGroup var verification: VerifyOption
    @OptionGroup var outputOptions: OutputOptions
    @OptionGroup var printing: PrintOptions

    func workflow() throws -> any WorkflowResult {
      var o = MrDETRWorkflow.StripOptions(input: paths.input, output: paths.output)
      (o.output, o.strip.variant, o.strip.dropLabelEncoder) = (
        try outputOptions.output(paths.output), variant, dropLabelEnc
      )
      (o.strip.layout, o.strip.useEMA, o.strip.keepUnknown) = (canonical, useEMA, keepUnknown)
      (o.nestUnder, o.heads, o.verify) = (flatPth ? nil : nestUnder, heads, !verification.noVerify)
      return try MrDETRWorkflow.strip(o)
    }
  }
}
