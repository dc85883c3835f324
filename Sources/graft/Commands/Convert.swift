import ArgumentParser
import Graft

struct Convert: WorkflowCommand {
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
    help: "Write Hugging Face shards of at most this size (5GB, 500MB, 2GiB).",
    transform: { try SafeTensors.parseSize($0) })
  var shardSize: Int?
  @Flag(help: "Compress (.graft: zlib after byte shuffle; .h5: chunked gzip + shuffle).") var compress = false
  @Option(help: "For .pth output: put the state dict under this key (model, state_dict).") var nestUnder: String?
  @Option(help: "For .h5 output: plain, keras2 or keras3.") var hdf5Layout = HDF5Checkpoint.Layout.plain
  @Option(help: "Convert Keras names and layouts to PyTorch's (kernel HWIO → weight OIHW) or back: pytorch, keras.")
  var layout: KerasLayout.Convention?
  @OptionGroup var reading: ReadingOptions
  @OptionGroup var outputOptions: OutputOptions
  @OptionGroup var printing: PrintOptions

  func workflow() throws -> any WorkflowResult {
    var o = ConversionOptions()
    (o.read, o.format, o.layout) = (reading.readOptions, try outputOptions.output(output).format, layout)
    if let dtype { try o.setDType(named: dtype) }
    o.cast = CastOptions(saturate: saturate)
    o.selection = try TensorSelection(include: include, exclude: exclude)
    o.renames = try rename.map { rule throws(GraftError) in try RenameRule(rule) }
    (o.write.shardSize, o.write.compress, o.write.nestUnder) = (shardSize, compress, nestUnder)
    o.write.hdf5Layout = hdf5Layout
    let bar = ProgressBar.make("converting", quiet: printing.quiet || printing.json)
    o.write.progress = bar?.counter()
    let report = try Conversion.run(input: input, output: output, options: o)
    bar?.finish()
    if let path = outputOptions.report { try Conversion.writeReport(report, to: path, inputs: [input]) }
    return report
  }
}
