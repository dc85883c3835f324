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
  /// Cast every floating-point tensor to this dtype (integer and boolean tensors are kept as they are); quantized
  /// tensors bound for a format that cannot store blocks are dequantized to it.
  public var dtype: DType?
  /// For GGUF output, the stored type of each tensor (`Q8_0`, `Q4_K_M`, `F16`, …); set with ``setDType(named:)``.
  public var ggufTarget: GGUF.Target?
  /// How to cast.
  public var cast = CastOptions()
  /// Creates default options.
  public init() {}

  /// Sets ``dtype`` and ``ggufTarget`` from a name: a dtype (`F32`, `bf16`, `F8_E4M3`, …) or a GGUF type that only
  /// GGUF output can store (`Q8_0`, `Q4_0`, `Q4_K_M`, …).
  ///
  /// - Throws: `invalidArgument` resolved by `dtype` for a name that is neither.
  public mutating func setDType(named name: String) throws(GraftError) {
    if let d = DType(parsing: name) {
      dtype = d
      ggufTarget = GGMLType(plain: d).map { .type($0) }
    } else if let t = GGUF.Target(name: name), t != .keep {
      dtype = nil
      ggufTarget = t
    } else {
      throw GraftError(
        .invalidArgument,
        "'\(name)' is neither a dtype (F32, F16, BF16, F8_E4M3, …) nor a GGUF type (Q8_0, Q4_0, Q4_K_M, Q6_K, …)"
      ).resolved(by: "dtype")
    }
  }
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
    let format =
      options.format ?? (options.write.shardSize != nil ? .safetensorsSharded : nil)
      ?? CheckpointFormat.forOutputPath(output)
    if let report = try runModelConversion(
      input: input, output: output, detection: detection, format: format, options: options, start: start)
    {
      return report
    }
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

    guard let format else {
      throw GraftError(
        .invalidArgument,
        "cannot tell the output format from the name; use an extension (.safetensors, .graft, .pth, .npz, .h5, .gguf) "
          + "or name the format",
        file: output
      ).resolved(by: "format")
    }
    var notes: [String] = []
    if format != .gguf {
      if options.dtype == nil, let t = options.ggufTarget {
        throw GraftError(
          .invalidArgument, "\(t) is a GGUF type; \(format.displayName) stores F32, F16, BF16 and other dtypes",
          file: output
        ).resolved(by: "dtype")
      }
      let census = Dequantization.census(table)
      if !census.isEmpty {
        guard let dtype = options.dtype else {
          throw Dequantization.refusal(census, writer: format.displayName, file: input)
        }
        if let note = try Dequantization.apply(&table, to: dtype, census: census) { notes.append(note) }
      }
    }

    var collectors: [(String, DType, CastReportCollector)] = []
    // GGUF output stores the asked type itself (with llama.cpp's F32 rule for norms and biases).
    if let target = options.dtype, format != .gguf || options.ggufTarget == nil {
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

    var write = options.write
    if format == .gguf { write.ggufTarget = options.ggufTarget }
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
    var summary = try Checkpoint.write(table, to: output, format: format, options: write)
    summary.notes = notes + summary.notes
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
