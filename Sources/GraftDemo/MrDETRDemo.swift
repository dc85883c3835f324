public import Graft

/// The Mr.DETR step of `graft demo`: strip a tiny in-memory training checkpoint and prove the primary route is
/// unchanged.
public enum MrDETRDemo {
  /// The tiny configuration the demo uses (every Mr.DETR key, small widths).
  public static let config: MrDETRConfig = {
    var c = MrDETRConfig()
    c.transformer.embedDim = 32
    c.transformer.encoderFFNDim = 64
    c.transformer.decoderFFNDim = 64
    c.transformer.heads = 4
    c.transformer.encoderPoints = 2
    c.transformer.decoderPoints = 2
    c.transformer.encoderLayers = 2
    c.transformer.classes = 8
    c.transformer.queries = 30
    c.backboneChannels = [8, 12, 16]
    return c
  }()

  /// Strips a synthetic DINO training checkpoint (with EMA) three ways and verifies each; writes the JSON report
  /// to `workFolder/mrdetr-strip-report.json`.
  ///
  /// - Returns: whether every verification passed, and the report lines.
  public static func run(workFolder: String) throws -> (passed: Bool, lines: [String]) {
    let checkpoint = try MrDETRSynthetic.trainingCheckpoint(config: config, variant: .dino, withEMA: true)
    let r50 = try MrDETRStrip.run(MrDETRSynthetic.stateDict(config: .r50, variant: .deformable, resNet50Backbone: true))
    var lines = [
      "full-size R50 Mr.DETR-deformable key set (\(r50.report.inputTensors) tensors, lazily produced): removes "
        + "\(r50.report.removed.count) tensors, \(r50.report.removedParameters) parameters, "
        + "\(r50.report.aliasesKept.count) head aliases kept and counted once"
    ]
    var passed = r50.report.removedParameters == 6_492_244
    var reports: [JSONValue] = []
    let runs: [(String, MrDETRStripOptions)] = [
      ("model, Mr.DETR names", MrDETRStripOptions()),
      (
        "model, --drop-label-enc --canonical detrex",
        {
          var o = MrDETRStripOptions()
          o.dropLabelEncoder = true
          o.layout = .detrex
          return o
        }()
      ),
      (
        "--use-ema --drop-label-enc",
        {
          var o = MrDETRStripOptions()
          o.dropLabelEncoder = true
          o.useEMA = true
          return o
        }()
      ),
    ]
    for (title, options) in runs {
      let result = try MrDETRStrip.run(checkpoint, options: options)
      let source = options.useEMA ? (checkpoint.emaState ?? checkpoint.model) : checkpoint.model
      let check = MrDETRCheck.verify(
        full: source, stripped: result.table, layout: options.layout, heads: config.transformer.heads)
      passed = passed && check.passed
      lines.append("tiny DINO training checkpoint, \(title):")
      lines += result.report.lines.map { "  " + $0 }
      lines += check.lines.map { "  " + $0 }
      var json = result.report.json.objectValue ?? JSONObject()
      json["run"] = .string(title)
      json["verified"] = .bool(check.passed)
      reports.append(.object(json))
    }
    try FileSystem.writeAll(
      JSONValue.array(reports).serializedBytes(.pythonIndent2), to: workFolder + "/mrdetr-strip-report.json")
    return (passed, lines)
  }
}
