extension Conversion {
  /// Hugging Face ↔ GGUF model conversions, when the input and output call for one.
  ///
  /// A model folder written as
  /// `.gguf`, or an LLM GGUF written as a folder (a path without a known extension, or ending in `/`). Returns `nil`
  /// for every other conversion.
  static func runModelConversion(
    input: String, output: String, detection: FormatDetector.Detection, format: CheckpointFormat?,
    options: ConversionOptions, start: UInt64
  ) throws -> ConversionReport? {
    // Folders of other models (no LLM model_type) keep the generic table conversion.
    let toGGUF = format == .gguf && LLMModelSource.isFolder(input)
    let fromGGUF =
      detection.format == .gguf && options.format == nil && options.write.shardSize == nil
      && (CheckpointFormat.forOutputPath(output) == nil || output.hasSuffix("/"))
    guard toGGUF || fromGGUF else { return nil }
    for (isSet, option) in [
      (!options.selection.keepsEverything, "include"),
      (!options.renames.isEmpty, "rename"), (options.read.select != nil, "select"),
      (!options.read.stripPrefixes.isEmpty, "strip-prefix"),
    ] where isSet {
      throw GraftError(
        .invalidArgument,
        "selecting or renaming tensors does not apply to a Hugging Face ↔ GGUF model conversion, which maps every "
          + "tensor to its counterpart", file: input
      ).resolved(by: option)
    }
    let report: GGUFConversion.Report
    if toGGUF {
      var o = GGUFConversion.Options()
      o.target = options.ggufTarget
      o.progress = options.write.progress
      if options.dtype != nil && options.ggufTarget == nil {
        throw GraftError(
          .invalidArgument, "GGUF cannot store \(options.dtype?.rawValue ?? "")", file: output
        ).resolved(by: "dtype")
      }
      report = try GGUFConversion.fromHuggingFace(folder: input, to: output, options: o)
    } else {
      var o = GGUFConversion.ReverseOptions()
      o.dtype = options.dtype
      o.progress = options.write.progress
      report = try GGUFConversion.toHuggingFace(gguf: input, to: output, options: o)
    }
    var summary = report.summary
    summary.notes.insert(
      "\(toGGUF ? "Hugging Face \(report.family.rawValue) → GGUF \(report.architecture.rawValue)" : "GGUF \(report.architecture.rawValue) → Hugging Face \(report.family.rawValue)"); "
        + "tokenizer: \(report.tokenizer)", at: 0)
    return ConversionReport(
      input: detection, outputFormat: toGGUF ? .gguf : .safetensorsSharded, tensorsIn: report.tensorsIn,
      tensorsOut: report.tensorsOut, dropped: [], renamed: 0, casts: [], summary: summary,
      seconds: Double(FileSystem.monotonicNanoseconds() - start) / 1e9)
  }
}
