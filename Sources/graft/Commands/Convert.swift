import ArgumentParser
import Graft

/// `graft convert`: any supported format to any other, streaming and atomic.
struct Convert: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Convert a checkpoint to another format, optionally selecting, renaming and casting tensors.",
    discussion: """
      Streams tensor by tensor with bounded memory; the output appears only when complete (temp file, fsync, \
      rename). --dtype casts floating-point tensors only (round to nearest even, bit-identical to PyTorch's \
      Tensor.to) and prints a cast report. Integer and boolean tensors are kept.

      Examples:
        graft convert model.safetensors model.graft
        graft convert ckpt.pth m.safetensors --select model --strip-prefix module.
        graft convert model.safetensors model-bf16.safetensors --dtype BF16
        graft convert model.safetensors out/ --shard-size 5GB
        graft convert model.safetensors enc.safetensors --include '^encoder\\.'
        graft convert enc.safetensors out.safetensors --rename 's/^encoder\\.//'
        graft convert keras.h5 torch.safetensors --layout pytorch
      """)

  @Argument(help: "The input checkpoint (file or sharded folder).") var input: String
  @Argument(help: "The output path. Its extension picks the format unless --to is given.") var output: String
  @Option(
    help:
      "Cast floating-point tensors to this dtype (F32, F16, BF16, F8_E4M3, …); GGUF output also takes Q8_0, Q4_0, Q4_K_M, …."
  )
  var dtype: String?
  @Flag(help: "When casting to fp8, saturate out-of-range values to the largest finite value instead of NaN/inf.")
  var saturate = false
  @Option(help: "Keep only tensors whose name matches this regular expression (repeatable).") var include: [String] = []
  @Option(help: "Drop tensors whose name matches this regular expression (repeatable).") var exclude: [String] = []
  @Option(help: "Rename tensors with a sed-style rule s/REGEX/REPLACEMENT/ (repeatable; $1 or \\1 for groups).")
  var rename: [String] = []
  @Option(
    name: .customLong("shard-size"), help: "Write Hugging Face shards of at most this size (5GB, 500MB, 2GiB).",
    transform: { try SafeTensors.parseSize($0) })
  var shardSize: Int?
  @Flag(help: "Compress (.graft: zlib after byte shuffle; .h5: chunked gzip + shuffle).") var compress = false
  @Option(
    name: .customLong("nest-under"), help: "For .pth output: put the state dict under this key (model, state_dict).")
  var nestUnder: String?
  @Option(name: .customLong("hdf5-layout"), help: "For .h5 output: plain, keras2 or keras3.")
  var hdf5Layout = HDF5Checkpoint.Layout.plain
  @Option(help: "Convert Keras names and layouts to PyTorch's (kernel HWIO → weight OIHW) or back: pytorch, keras.")
  var layout: KerasLayout.Convention?
  @OptionGroup var reading: ReadingOptions
  @OptionGroup var outputOptions: OutputOptions

  func validate() throws { try outputOptions.refuseLLMTarget() }

  func run() throws {
    try Failure.reporting {
      var options = ConversionOptions()
      options.read = reading.readOptions
      options.format = outputOptions.to?.format
      if let dtype { try options.setDType(named: dtype) }
      options.layout = layout
      options.cast = CastOptions(saturate: saturate)
      options.selection = try TensorSelection(include: include, exclude: exclude)
      options.renames = try rename.map { rule throws(GraftError) in try RenameRule(rule) }
      options.write.shardSize = shardSize
      options.write.compress = compress
      options.write.nestUnder = nestUnder
      options.write.hdf5Layout = hdf5Layout
      let bar = ProgressBar.make("converting", quiet: outputOptions.quiet || outputOptions.json)
      options.write.progress = bar?.counter()
      let report = try Conversion.run(input: input, output: output, options: options)
      bar?.finish()
      if outputOptions.json || !outputOptions.quiet {
        Failure.print(json: outputOptions.json, report.json, text: report.lines.joined(separator: "\n"))
      }
      if let path = outputOptions.report { try Conversion.writeReport(report, to: path, inputs: [input]) }
    }
  }
}
