import ArgumentParser
import Graft

/// `graft convert`: any supported format to any other, streaming and atomic.
struct Convert: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Convert a checkpoint to another format, optionally selecting, renaming and casting tensors.",
    discussion: """
      Streams tensor by tensor with bounded memory; the output appears only when complete (temp file, fsync, rename).
      --dtype casts floating-point tensors only (round to nearest even, bit-identical to PyTorch's Tensor.to) and
      prints a cast report. Integer and boolean tensors are kept.

      Examples:
        graft convert model.safetensors model.graft
        graft convert checkpoint.pth model.safetensors --select model --strip-prefix module.
        graft convert model.safetensors model-bf16.safetensors --dtype BF16
        graft convert model.safetensors out/ --shard-size 5GB
        graft convert model.safetensors enc.safetensors --include '^encoder\\.' --rename 's/^encoder\\.//'
      """)

  @Argument(help: "The input checkpoint (file or sharded folder).")
  var input: String

  @Argument(help: "The output path. Its extension picks the format unless --to is given.")
  var output: String

  @Option(help: "Output format: safetensors, sharded, graft, pth, npy, npz, h5.")
  var to: String?

  @Option(help: "Cast floating-point tensors to this dtype (F32, F16, BF16, F8_E4M3, …).")
  var dtype: String?

  @Flag(help: "When casting to fp8, saturate out-of-range values to the largest finite value instead of NaN/inf.")
  var saturate = false

  @Option(help: "Keep only tensors whose name matches this regular expression (repeatable).")
  var include: [String] = []

  @Option(help: "Drop tensors whose name matches this regular expression (repeatable).")
  var exclude: [String] = []

  @Option(help: "Rename tensors with a sed-style rule s/REGEX/REPLACEMENT/ (repeatable; $1 or \\1 for groups).")
  var rename: [String] = []

  @Option(name: .customLong("shard-size"), help: "Write Hugging Face shards of at most this size (5GB, 500MB, 2GiB).")
  var shardSize: String?

  @Flag(help: "Compress (.graft: zlib after byte shuffle; .h5: chunked gzip + shuffle).")
  var compress = false

  @Option(
    name: .customLong("nest-under"), help: "For .pth output: put the state dict under this key (model, state_dict).")
  var nestUnder: String?

  @Option(name: .customLong("hdf5-layout"), help: "For .h5 output: plain, keras2 or keras3.")
  var hdf5Layout: String = "plain"

  @OptionGroup var reading: ReadingOptions

  @Flag(name: .shortAndLong, help: "No progress bar and no report.")
  var quiet = false

  func validate() throws {
    if let to, CheckpointFormat(argument: to) == nil { throw ValidationError("unknown format '\(to)' for --to") }
    if let dtype, DType(parsing: dtype) == nil { throw ValidationError("unknown dtype '\(dtype)'") }
    if HDF5Checkpoint.Layout(rawValue: hdf5Layout) == nil {
      throw ValidationError("unknown HDF5 layout '\(hdf5Layout)'")
    }
  }

  func run() throws {
    try Failure.reporting(outputs: [output]) {
      var options = ConversionOptions()
      options.read = reading.readOptions
      options.format = to.flatMap(CheckpointFormat.init(argument:))
      options.dtype = dtype.flatMap(DType.init(parsing:))
      options.cast = CastOptions(saturate: saturate)
      options.selection = try TensorSelection(include: include, exclude: exclude)
      options.renames = try rename.map { rule throws(GraftError) in try RenameRule(rule) }
      if let shardSize { options.write.shardSize = try SafeTensors.parseSize(shardSize) }
      options.write.compress = compress
      options.write.nestUnder = nestUnder
      options.write.hdf5Layout = HDF5Checkpoint.Layout(rawValue: hdf5Layout) ?? .plain
      let bar = ProgressBar.make("converting", quiet: quiet)
      options.write.progress = bar?.counter()
      let report = try Conversion.run(input: input, output: output, options: options)
      bar?.finish()
      if !quiet { print(ConvertReportRenderer.render(report)) }
    }
  }
}

/// Text for a conversion report.
enum ConvertReportRenderer {
  static func render(_ r: ConversionReport) -> String {
    var lines: [String] = []
    let files = r.summary.files.count == 1 ? r.summary.files[0] : "\(r.summary.files.count) files"
    lines.append(
      "\(r.input.detail) → \(r.outputFormat.displayName): \(r.tensorsOut) tensors, "
        + "\(Format.bytes(r.summary.bytesWritten)) written to \(files) in \(Format.fixed(r.seconds, digits: 2)) s")
    if !r.dropped.isEmpty { lines.append("dropped \(r.dropped.count) tensors (--include/--exclude)") }
    if r.renamed > 0 { lines.append("renamed \(r.renamed) tensors") }
    for note in r.summary.notes { lines.append("note: \(note)") }
    if !r.casts.isEmpty {
      let total = r.totalCast
      lines.append("cast \(r.casts.count) tensors: \(total.summary)")
      for c in r.casts
      where !c.report.isExact
        && (c.report.nanCount + c.report.overflowCount
          + c.report.positiveInfinityCount + c.report.negativeInfinityCount + c.report.flushedToZeroCount) > 0
      {
        lines.append("  \(c.name) (\(c.from)): \(c.report.summary)")
      }
    }
    return lines.joined(separator: "\n")
  }
}
