/// Options for ``Conversion/run(input:output:options:)``.
public struct ConversionOptions: Sendable {
  /// How to read the input.
  public var read = Checkpoint.ReadOptions()
  /// How to write the output (its `inputs` and `lineage` are filled in by the conversion).
  public var write = Checkpoint.WriteOptions()
  /// The output format; `nil` means "from the output path's extension".
  public var format: CheckpointFormat?
  /// Convert Keras names and layouts to PyTorch's or back (``KerasLayout``), before selection, renaming and casting.
  public var layout: KerasLayout.Convention?
  /// Which tensors to keep.
  public var selection = TensorSelection.everything
  /// Rename rules, applied in order after selection.
  public var renames: [RenameRule] = []
  /// Cast every floating-point tensor to this dtype (integer and boolean tensors are kept as they are).
  public var dtype: DType?
  /// How to cast.
  public var cast = CastOptions()
  /// Creates default options.
  public init() {}
}

/// What a conversion did.
public struct ConversionReport: Sendable {
  /// The detected input format.
  public var input: FormatDetector.Detection
  /// The output format.
  public var outputFormat: CheckpointFormat
  /// Tensors read (aliases included).
  public var tensorsIn: Int
  /// Tensors written (aliases included).
  public var tensorsOut: Int
  /// Names dropped by the selection.
  public var dropped: [String]
  /// How many names the rename rules changed.
  public var renamed: Int
  /// Per-tensor cast reports, in table order, for tensors whose dtype changed.
  public var casts: [(name: String, from: DType, report: CastReport)]
  /// What the writer produced.
  public var summary: WriteSummary
  /// Wall time in seconds.
  public var seconds: Double
  /// Which of several state dicts the input held was converted, when it held several.
  public var collection: CollectionChoice? = nil

  /// All cast reports merged.
  public var totalCast: CastReport {
    var total = CastReport()
    for c in casts { total.merge(c.report) }
    return total
  }
}

/// Streaming conversion between formats, with optional selection, renaming and casting.
///
/// Memory stays bounded: the input is memory-mapped, each tensor flows through the (optional) cast in chunks into the
/// writer, and mapped pages are dropped as the writer moves on.
public enum Conversion {
  /// Converts the checkpoint at `input` into `output`.
  @discardableResult
  public static func run(
    input: String, output: String, options: ConversionOptions = ConversionOptions()
  ) throws
    -> ConversionReport
  {
    let start = FileSystem.monotonicNanoseconds()
    guard !FileSystem.isSameFile(input, output) else {
      throw GraftError(
        .invalidArgument, "the output is the input; Graft never overwrites an input in place", file: output)
    }
    let detection = try Checkpoint.detect(path: input)
    var table = try Checkpoint.read(path: input, detection: detection, options: options.read)
    // The table as read, before selection, renaming and casting: its digest is the lineage input. Tensors are lazy,
    // so keeping it costs nothing until (and unless) the digest is needed.
    let original = table
    let tensorsIn = table.count
    if let layout = options.layout {
      table = try WorkflowFiles.naming(input) { try KerasLayout.convert(table, to: layout) }
    }
    let dropped = table.apply(options.selection)
    let renamed = try table.apply(options.renames)
    if table.isEmpty {
      throw GraftError(.invalidArgument, "no tensors left to write after the selection", file: input).resolved(
        by: "selection")
    }

    var collectors: [(String, DType, CastReportCollector)] = []
    if let target = options.dtype {
      for entry in table.storedEntries where entry.tensor.dtype.isFloatingPoint && entry.tensor.dtype != target {
        guard Cast.isSupported(from: entry.tensor.dtype, to: target) else {
          throw GraftError(.unsupportedDType, "cannot cast \(entry.tensor.dtype) to \(target)", tensor: entry.name)
        }
        let collector = CastReportCollector()
        let cast = try Cast.lazily(entry.tensor, to: target, options: options.cast, collector: collector)
        try table.replace(entry.name, with: cast)
        collectors.append((entry.name, entry.tensor.dtype, collector))
      }
    }

    let format =
      options.format ?? (options.write.shardSize != nil ? .safetensorsSharded : nil)
      ?? CheckpointFormat.forOutputPath(output)
    guard let format else {
      throw GraftError(
        .invalidArgument,
        "cannot tell the output format from the name; use an extension (.safetensors, .graft, .pth, .npz, .h5) or name "
          + "the format",
        file: output
      ).resolved(by: "format")
    }
    var write = options.write
    write.inputs = [input, detection.readerPath]
    // Converting safetensors to safetensors (directly or through a .graft made from safetensors) keeps the metadata
    // exactly as it was, so round trips are byte-identical; other sources gain the `format: pt` key that
    // transformers requires.
    if detection.format == .safetensors || detection.format == .safetensorsSharded
      || (detection.format == .graft && original.lineage.first.map(Conversion.isFromSafetensors) == true)
    {
      write.addFormatKey = false
    }
    if format == .graft {
      var parameters = JSONObject()
      parameters["from"] = .string(detection.format.rawValue)
      if let d = options.dtype { parameters["dtype"] = .string(d.rawValue) }
      if let layout = options.layout { parameters["layout"] = .string(layout.rawValue) }
      if !options.renames.isEmpty { parameters["rename"] = .array(options.renames.map { .string($0.description) }) }
      if !dropped.isEmpty { parameters["dropped"] = .integer(dropped.count) }
      if let s = options.read.select { parameters["select"] = .string(s) }
      write.lineage = LineageRecord(
        operation: "convert", tool: Checkpoint.toolName, parameters: .object(parameters),
        inputs: [
          collectors.isEmpty && dropped.isEmpty && renamed == 0 && options.read.stripPrefixes.isEmpty
            && options.layout == nil
            ? LineageRecord.sameAsOutput : try Checkpoint.inputDigest(of: original, detection: detection)
        ])
    }
    let summary = try Checkpoint.write(table, to: output, format: format, options: write)
    let seconds = Double(FileSystem.monotonicNanoseconds() - start) / 1e9
    return ConversionReport(
      input: detection, outputFormat: format, tensorsIn: tensorsIn, tensorsOut: table.count, dropped: dropped,
      renamed: renamed, casts: collectors.map { ($0.0, $0.1, $0.2.report) }, summary: summary, seconds: seconds,
      collection: original.collection)
  }
}

extension Conversion {
  /// Whether a lineage record is a conversion from safetensors, whose metadata the source file kept as it was.
  static func isFromSafetensors(_ record: LineageRecord) -> Bool {
    let from = record.parameters.objectValue?["from"]?.stringValue
    return record.operation == "convert"
      && (from == CheckpointFormat.safetensors.rawValue || from == CheckpointFormat.safetensorsSharded.rawValue)
  }
}

extension Checkpoint {
  /// A digest that identifies an input in lineage records.
  ///
  /// For a `.graft` input the digest recorded by the last operation that wrote it is reused (it was checked against
  /// the per-tensor checksums on read); otherwise the content digest is computed from the bytes as read, which costs
  /// one extra pass over a page-cache-resident file.
  static func inputDigest(of table: TensorTable, detection: FormatDetector.Detection) throws -> String {
    if detection.format == .graft, let recorded = table.lineage.last?.output { return recorded }
    return try table.contentDigest()
  }
}

extension ConversionReport {
  /// The report for terminals: what was converted to what, what was dropped or renamed, and the cast report.
  public var lines: [String] {
    var lines: [String] = []
    let files = summary.files.count == 1 ? summary.files[0] : "\(summary.files.count) files"
    lines.append(
      "\(input.detail) → \(outputFormat.displayName): \(tensorsOut) tensors, "
        + "\(Format.bytes(summary.bytesWritten)) written to \(files) in \(Format.fixed(seconds, digits: 2)) s")
    if let note = collection?.note { lines.append(note) }
    if !dropped.isEmpty { lines.append("dropped \(dropped.count) tensors (selection)") }
    if renamed > 0 { lines.append("renamed \(renamed) tensors") }
    for note in summary.notes { lines.append("note: \(note)") }
    if !casts.isEmpty {
      lines.append("cast \(casts.count) tensors: \(totalCast.summary)")
      for c in casts
      where !c.report.isExact
        && (c.report.nanCount + c.report.overflowCount + c.report.positiveInfinityCount
          + c.report.negativeInfinityCount + c.report.flushedToZeroCount) > 0
      { lines.append("  \(c.name) (\(c.from)): \(c.report.summary)") }
    }
    return lines
  }

  /// The report as data.
  public var json: JSONValue {
    var o = JSONObject()
    o["input_format"] = .string(input.format.rawValue)
    o["output_format"] = .string(outputFormat.rawValue)
    o["tensors_in"] = .integer(tensorsIn)
    o["tensors_out"] = .integer(tensorsOut)
    o["dropped"] = .array(dropped.map(JSONValue.string))
    o["renamed"] = .integer(renamed)
    o["files"] = .array(summary.files.map(JSONValue.string))
    o["bytes_written"] = .integer(summary.bytesWritten)
    o["notes"] = .array(summary.notes.map(JSONValue.string))
    o["seconds"] = .double(seconds)
    if let collection { o["state_dict"] = collection.json }
    o["casts"] = .array(
      casts.map { c in
        .object(
          JSONObject([
            ("tensor", .string(c.name)), ("from", .string(c.from.rawValue)), ("summary", .string(c.report.summary)),
            ("max_abs_error", JSONValue.finite(c.report.maxAbsError)),
            ("max_rel_error", JSONValue.finite(c.report.maxRelError)),
          ]))
      })
    return .object(o)
  }
}

extension Conversion {
  /// Writes a conversion report as JSON (atomically; a failure is the output's).
  public static func writeReport(_ report: ConversionReport, to path: String, inputs: [String]) throws {
    try WorkflowFiles.writeJSON(report.json, to: path, inputs: inputs)
  }
}
