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
struct MrDETRStripCommand: ParsableCommand {
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
        graft mrdetr strip model_0089999.pth deploy.safetensors --use-ema --canonical detrex
      """)

  @Argument(help: "The Mr.DETR checkpoint (.pth training checkpoint, state dict, .safetensors or .graft).")
  var input: String

  @Argument(help: "The output path; its extension picks the format (.pth, .safetensors, .graft).")
  var output: String

  @Option(help: "deformable, dino, align or insseg (detected from the keys when omitted).")
  var variant: String?

  @Flag(name: .customLong("drop-label-enc"), help: "Also remove DINO/Align's training-only CDN embedding label_enc.")
  var dropLabelEnc = false

  @Option(help: "Rename the decoder to another layout: detrex (stock detrex Deformable-DETR names).")
  var canonical: String?

  @Flag(name: .customLong("use-ema"), help: "Keep the EMA weights (ema_state) instead of model.")
  var useEMA = false

  @Flag(name: .customLong("keep-unknown"), help: "Keep tensors in neither manifest list instead of refusing.")
  var keepUnknown = false

  @Option(name: .customLong("nest-under"), help: "For .pth output: the key to nest the state dict under.")
  var nestUnder = "model"

  @Flag(name: .customLong("flat-pth"), help: "For .pth output: write the bare state dict, not {\"model\": …}.")
  var flatPth = false

  @Option(help: "Attention heads, for the verifying engine (not visible in shapes; 8 in every released config).")
  var heads = 8

  @Option(help: "Also write the report as JSON to this path.")
  var report: String?

  @Flag(name: .customLong("no-verify"), help: "Skip reading the output back and the engine comparison.")
  var noVerify = false

  @Flag(name: .shortAndLong, help: "Print only errors.")
  var quiet = false

  func validate() throws {
    if let variant, MrDETRVariant(rawValue: variant) == nil {
      throw ValidationError("unknown variant '\(variant)'; expected deformable, dino, align or insseg")
    }
    if let canonical, canonical != "detrex" { throw ValidationError("unknown layout '\(canonical)'; expected detrex") }
  }

  func run() throws {
    try Failure.reporting {
      var options = MrDETRStripOptions()
      options.variant = variant.flatMap(MrDETRVariant.init(rawValue:))
      options.dropLabelEncoder = dropLabelEnc
      options.layout = canonical == "detrex" ? .detrex : .mrdetr
      options.useEMA = useEMA
      options.keepUnknown = keepUnknown
      let source = try Self.load(input, useEMA: useEMA)
      let result: MrDETRStripResult
      switch source {
      case .container(let c): result = try MrDETRStrip.run(c, options: options)
      case .stateDict(let t): result = try MrDETRStrip.run(t, options: options)
      }
      var lines = result.report.lines

      var write = Checkpoint.WriteOptions()
      write.inputs = [input]
      write.nestUnder = flatPth ? nil : nestUnder
      write.lineage = LineageRecord(
        operation: "mrdetr.strip", tool: Checkpoint.toolName,
        parameters: .object(
          JSONObject([
            ("variant", .string(result.report.variant.rawValue)), ("drop_label_enc", .bool(dropLabelEnc)),
            ("layout", .string(options.layout.rawValue)), ("source", .string(result.report.source)),
            ("removed_parameters", .integer(result.report.removedParameters)),
          ])))
      let summary = try Checkpoint.write(result.table, to: output, options: write)
      lines.append("wrote \(output): \(Format.bytes(summary.bytesWritten))")

      var passed = true
      if !noVerify {
        let check = try MrDETRStripCheck.readBack(output, expected: result.table, nestedUnder: write.nestUnder)
        lines += check.lines
        passed = check.passed
        let full: TensorTable
        switch source {
        case .container(let c): full = useEMA ? (c.emaState ?? c.model) : c.model
        case .stateDict(let t): full = t
        }
        let engine = MrDETRVerification.verify(
          full: full, stripped: result.table, layout: options.layout, heads: heads)
        lines += engine.lines
        passed = passed && engine.passed
      }
      if let report {
        var json = result.report.json.objectValue ?? JSONObject()
        json["verified"] = .bool(passed)
        json["verification"] = .array(lines.map(JSONValue.string))
        try FileSystem.writeAll(JSONValue.object(json).serializedBytes(.pythonIndent2), to: report, inputs: [input])
      }
      if !quiet { print(lines.joined(separator: "\n")) }
      if !passed {
        FileSystem.writeToStandardError("graft: error: verification failed\n")
        throw Failure.mismatch
      }
    }
  }

  enum Source {
    case container(DetectronTrainingCheckpoint)
    case stateDict(TensorTable)
  }

  /// Reads a `.pth` training checkpoint whole (flattened from the root, so `model.`, `ema_state.` and `trainer.`
  /// entries all show) or any other format as a state dict.
  static func load(_ path: String, useEMA: Bool) throws -> Source {
    var o = Checkpoint.ReadOptions()
    if try Checkpoint.detect(path: path).format == .pytorch {
      o.select = ""
      if let whole = try? Checkpoint.read(path: path, options: o), DetectronTrainingCheckpoint.isContainer(whole) {
        return .container(try DetectronTrainingCheckpoint(flattened: whole))
      }
      o.select = nil
    }
    return .stateDict(try Checkpoint.read(path: path, options: o))
  }
}

/// Reads a written checkpoint back and compares it with what was meant to be written.
enum MrDETRStripCheck {
  static func readBack(
    _ path: String, expected: TensorTable, nestedUnder: String?
  ) throws -> (
    passed: Bool, lines: [String]
  ) {
    var o = Checkpoint.ReadOptions()
    if try Checkpoint.detect(path: path).format == .pytorch { o.select = nestedUnder ?? "" }
    let back = try Checkpoint.read(path: path, options: o)
    var identical = 0
    var bad: [String] = []
    var aliasesDropped = 0
    for e in expected.entries {
      // safetensors keeps one name per storage (save_model's convention); the dropped alias must have its target.
      if back[e.name] == nil, let target = e.aliasOf, back[target] != nil {
        aliasesDropped += 1
        continue
      }
      guard let t = back[e.name], t.dtype == e.tensor.dtype, t.shape == e.tensor.shape,
        try digest(t) == digest(e.tensor)
      else {
        bad.append(e.name)
        continue
      }
      identical += 1
    }
    let extra = back.count - (expected.count - bad.count - aliasesDropped)
    let passed = bad.isEmpty && extra == 0
    var lines = [
      "\(passed ? "✔" : "✘") read back \(path): \(identical)/\(expected.count) tensors byte-identical (xxh64), "
        + "\(back.aliases.count) aliases stored once (\(Format.bytes(back.storedByteCount)) of tensor data)"
    ]
    if aliasesDropped > 0 {
      lines.append(
        "  note: \(aliasesDropped) head aliases are not stored by this format (one name per storage); write .pth or "
          + ".graft to keep both names for a strict detrex load")
    }
    if !bad.isEmpty { lines.append("  missing or different: \(bad.prefix(5).joined(separator: ", "))") }
    return (passed, lines)
  }

  private static func digest(_ t: Tensor) throws -> UInt64 {
    var h = XXHash64()
    try t.forEachChunk { h.update($0) }
    return h.finalize()
  }
}
