/// DenoiseRep surgery as one call each: fuse the denoisers of a training checkpoint into their Linears (verified
/// layer by layer and end to end in the engine), or strip the leftovers of an already fused, released checkpoint.
public enum DenoiseRepWorkflow {
  /// How `W·W_d` is computed.
  public enum Precision: String, Sendable, CaseIterable {
    /// The engine's SGEMM in float32, depth blocks of 256 carried in float64 (fast; the default).
    case float32
    /// Plain float64 loops (slow on wide layers; for auditing the fast path).
    case float64
  }

  /// Options of ``fuse(_:)``.
  public struct FuseOptions: Sendable {
    /// The unfused checkpoint.
    public var input: String
    /// Where and how to write the fused checkpoint.
    public var output: WorkflowOutput
    /// How to read the input.
    public var read = Checkpoint.ReadOptions()
    /// The fusion itself (mode, T per layer, seed, …); its `product` is set from ``precision``.
    public var fuse = DenoiseRep.FuseOptions()
    /// How `W·W_d` is computed.
    public var precision = Precision.float32
    /// Whether to run the engine checks (and refuse to write when one fails).
    public var verify = true
    /// Engine options for the whole-model check.
    public var model = VisionTransformer.Options()

    /// Creates options with the library defaults.
    public init(input: String, output: String) {
      self.input = input
      self.output = WorkflowOutput(path: output)
      fuse.tool = Checkpoint.toolName
    }
  }

  /// What ``fuse(_:)`` did.
  public struct FuseResult: GatedResult {
    /// The fusion's report.
    public var fusion: DenoiseRep.FuseReport
    /// The checks, unless verification was turned off.
    public var checks: CheckReport?
    /// What was written; `nil` when a check failed.
    public var written: WriteSummary?
    /// The output path.
    public var output: String
    /// The number of tensors in the output.
    public var tensorCount: Int
    /// The backbone's configuration as the engine resolved it, when the whole model was checked.
    public var configuration: ModelConfiguration?

    /// The report for terminals.
    public var lines: [String] {
      var out = configuration?.lines() ?? []
      out += [
        "fused \(fusion.layers.count) DenoiseRep layers (mode \(fusion.mode.rawValue)); removed "
          + "\(fusion.removed.count) leftover tensors, \(Format.bytes(fusion.removedBytes))"
      ]
      for l in fusion.layers {
        let k = l.constants
        out.append(
          "  \(l.layer.prefix): T = \(k.t)\(l.tFromMap ? " (t-map)" : "")  c1 = \(Format.scientific(k.c1))  "
            + "c2 = \(Format.scientific(k.c2))  c3 = \(Format.scientific(k.c3))"
            + (l.timeTermMax.map { "  time term ≤ \(Format.scientific($0))" } ?? ""))
      }
      out += checks?.lines ?? []
      out.append(
        written.map { "wrote \(tensorCount) tensors, \(Format.bytes($0.bytesWritten)) to \(output)" }
          ?? "not written: the fused model does not match the explicit one")
      return out
    }

    /// The fusion and verification reports.
    public var json: JSONValue {
      .object(
        JSONObject([
          ("configuration", configuration?.json ?? .null), ("fuse", fusion.json),
          ("verification", checks?.json ?? .null),
        ]))
    }
  }

  /// Options of ``strip(_:)``.
  public struct StripOptions: Sendable {
    /// The released (fused) checkpoint.
    public var input: String
    /// Where and how to write the stripped checkpoint.
    public var output: WorkflowOutput
    /// How to read the input.
    public var read = Checkpoint.ReadOptions()

    /// Creates options.
    public init(input: String, output: String) {
      self.input = input
      self.output = WorkflowOutput(path: output)
    }
  }

  /// What ``strip(_:)`` did.
  public struct StripResult: WorkflowResult {
    /// The strip report.
    public var strip: DenoiseRep.StripReport
    /// What was written.
    public var written: WriteSummary
    /// The output path.
    public var output: String

    /// Stripping has no numeric check: kept tensors are copied byte for byte.
    public var passed: Bool { true }

    /// The report for terminals.
    public var lines: [String] {
      [
        "stripped \(strip.layers.count) DenoiseRep layers: removed \(strip.removed.count) tensors "
          + "(\(Format.bytes(strip.removedBytes))), kept \(strip.kept) (\(Format.bytes(strip.keptBytes))); wrote "
          + "\(Format.bytes(written.bytesWritten)) to \(output)"
      ]
    }

    /// The strip report.
    public var json: JSONValue { strip.json }
  }

  /// Fuses, verifies with the engine, and writes only when the fused model matches the explicit one.
  public static func fuse(_ options: FuseOptions) throws -> FuseResult {
    let table = try Checkpoint.read(path: options.input, options: options.read)
    var fuseOptions = options.fuse
    // The fast product lives in the engine, which GraftSurgery cannot see: the workflow is where it is wired in.
    fuseOptions.product = options.precision == .float32 ? DenoiseRepKernels.product : nil
    let (fused, fusion) = try WorkflowFiles.naming(table) { try DenoiseRep.fuse(table, options: fuseOptions) }
    var result = FuseResult(
      fusion: fusion, checks: nil, written: nil, output: options.output.path, tensorCount: fused.count)
    if options.verify {
      var model = options.model
      // The whole-model check runs when the checkpoint is a ViT (a DenoiseRep ReID backbone is a timm ViT).
      if table.names.contains(where: { $0.hasSuffix("patch_embed.proj.weight") }) {
        (result.configuration, model) = try ModelConfiguration.resolve(table, checkpoint: options.input, options: model)
      }
      result.checks = try WorkflowFiles.naming(table) {
        try DenoiseRepCheck.verify(unfused: table, fused: fused, report: fusion, fuseOptions: fuseOptions, model: model)
      }
    }
    // DenoiseRep.fuse records its own lineage in the table.
    return try options.output.finish(result, writing: fused, inputs: [options.input])
  }

  /// Drops `dm.*`, `time_mlp.*` and the schedule buffers; every other tensor is written byte for byte.
  public static func strip(_ options: StripOptions) throws -> StripResult {
    let table = try Checkpoint.read(path: options.input, options: options.read)
    let (clean, report) = try WorkflowFiles.naming(table) { try DenoiseRep.strip(table, tool: Checkpoint.toolName) }
    try options.output.writeReport(report.json, inputs: [options.input])
    let written = try options.output.write(clean, inputs: [options.input], lineage: nil)
    return StripResult(strip: report, written: written, output: options.output.path)
  }
}

/// The T of each DenoiseRep layer, as the user gives it.
public enum DenoiseRepTimeMap {
  /// Parses `{"<layer>": T}` given inline (text starting with `{`) or as the path of a file holding it.
  public static func parse(_ text: String) throws -> [String: Int] {
    let json: String
    var file: String?
    if text.trimmingPrefix(while: { $0 == " " }).hasPrefix("{") {
      json = text
    } else {
      json = String(decoding: try FileSystem.readAll(text), as: UTF8.self)
      file = text
    }
    let parsed: JSONValue
    do { parsed = try JSONParser.parse(json) } catch { throw error.inFile(file ?? "the T map") }
    guard let object = parsed.objectValue else {
      throw GraftError(.invalidArgument, "the T map must be a JSON object {\"<layer>\": T}", file: file)
        .resolved(by: "tMap")
    }
    var map: [String: Int] = [:]
    for (key, value) in object {
      guard let t = value.intValue else {
        throw GraftError(
          .invalidArgument, "the T of '\(key)' is \(value.kindDescription), not an integer", file: file
        ).resolved(by: "tMap")
      }
      map[key] = t
    }
    return map
  }
}
