import ArgumentParser
import Graft

struct DenoiseRepCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "denoiserep",
    abstract: "Fuse DenoiseRep denoising layers into the Linears they wrap, or strip their leftovers.",
    discussion: """
      Released DenoiseRep checkpoints were fused by their training scripts before saving and still carry dm.*, \
      time_mlp.* and twelve schedule buffers per layer: use 'strip' for them. 'fuse' is for unfused training \
      checkpoints; the public code records neither T nor whether a file is fused, so fusing twice applies a second \
      denoising step silently.
      """,
    subcommands: [Fuse.self, Strip.self])
}

extension DenoiseRepCommand {
  struct Fuse: WorkflowCommand {
    static let configuration = CommandConfiguration(
      abstract: "Fold each denoiser into its Linear (W' = c3·W − c1·W·W_d), drop the leftovers and verify.",
      discussion: """
        Modes: mean (default; z = 0, no time term: deterministic), compat (the public code's formula: no time \
        term, one seeded normal draw z), exact (adds the time-embedding term −c1·W·W_d·e(T) from the checkpoint's \
        time_mlp). Constants come from the stored buffers; T per layer from the public converters' traversal rule \
        (every ViT fc1 T = N, fc2 T = N−1) unless --t-map names it.

        After fusing, every layer and (for a ViT) the whole model are run explicitly and fused with the engine on \
        seeded inputs; the output is written only when the check passes (exit status 1 otherwise).

        Examples:
          graft denoiserep fuse reid.pth reid-deploy.safetensors --mode mean
          graft denoiserep fuse reid.pth exact.safetensors --mode exact --t-map t.json
          graft denoiserep fuse reid.pth e.pth --t-map '{"blocks.0.mlp.fc1": 24}'
        """)

    @OptionGroup var paths: InputOutput
    @Option(help: "The fusion mode.") var mode = DenoiseRep.Mode.mean
    @Option(help: "T per layer: a JSON object {\"<layer>\": T} inline, or the path of a file holding one.")
    var tMap: String?
    @Option(help: "N of the traversal rule (default: the number of wrapped layers).") var layerCount: Int?
    @Option(help: "The seed of the compat mode's z.") var seed: UInt64 = 0
    @Flag(help: "Fuse even though the input carries a fused marker.") var assumeUnfused = false
    @Flag(help: "Apply the public DenoiseConv2d formula to conv layers (NOT an equivalence) instead of refusing them.")
    var compatConv = false
    @Option(help: "How W·W_d is computed: float32 (SGEMM, float64 carries) or float64 (slow).")
    var precision = DenoiseRepWorkflow.Precision.float32
    @OptionGroup var vit: ModelOptions
    @OptionGroup var surgery: SurgeryOptions
    @OptionGroup var printing: PrintOptions

    func workflow() throws -> any WorkflowResult {
      var o = try surgery.apply(to: DenoiseRepWorkflow.FuseOptions(input: paths.input, output: paths.output))
      (o.fuse.mode, o.fuse.tMap, o.fuse.layerCount) = (mode, try tMap.map(DenoiseRepTimeMap.parse) ?? [:], layerCount)
      (o.fuse.seed, o.fuse.assumeUnfused, o.fuse.compatConv) = (seed, assumeUnfused, compatConv)
      (o.precision, o.model) = (precision, vit.model)
      let result = try DenoiseRepWorkflow.fuse(o)
      for w in result.fusion.warnings { Failure.warn(w) }
      return result
    }
  }

  struct Strip: WorkflowCommand {
    static let configuration = CommandConfiguration(
      abstract: "Drop dm.*, time_mlp.* and the schedule buffers of an already fused (released) checkpoint.",
      discussion: """
        Every other tensor is written byte for byte as it was. Prints the removed tensors and bytes.

        Example:
          graft denoiserep strip released.pth clean.pth
        """)

    @OptionGroup var paths: InputOutput
    @OptionGroup var outputOptions: OutputOptions
    @OptionGroup var reading: ReadingOptions
    @OptionGroup var printing: PrintOptions

    func workflow() throws -> any WorkflowResult {
      var o = DenoiseRepWorkflow.StripOptions(input: paths.input, output: paths.output)
      (o.output, o.read) = (try outputOptions.output(paths.output), reading.readOptions)
      return try DenoiseRepWorkflow.strip(o)
    }
  }
}
