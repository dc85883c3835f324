import ArgumentParser
import Graft

/// `graft denoiserep`: fuse DenoiseRep denoisers into their Linears, or strip the leftovers of released checkpoints.
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
  /// `graft denoiserep fuse`.
  struct Fuse: ParsableCommand {
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
          graft denoiserep fuse reid.pth reid-exact.safetensors --mode exact --t-map '{"base.blocks.0.mlp.fc1": 24}'
        """)

    @Argument(help: "The unfused DenoiseRep checkpoint.")
    var input: String

    @Argument(help: "The output path; its extension picks the format unless --to is given.")
    var output: String

    @Option(help: "mean, compat or exact.")
    var mode: String = "mean"

    @Option(
      name: .customLong("t-map"),
      help: "T per layer: a JSON object {\"<layer>\": T} inline, or the path of a file holding one.")
    var tMap: String?

    @Option(name: .customLong("layer-count"), help: "N of the traversal rule (default: the number of wrapped layers).")
    var layerCount: Int?

    @Option(help: "The seed of the compat mode's z.")
    var seed: UInt64 = 0

    @Flag(name: .customLong("assume-unfused"), help: "Fuse even though the input carries a fused marker.")
    var assumeUnfused = false

    @Flag(
      name: .customLong("compat-conv"),
      help: "Apply the public DenoiseConv2d formula to conv layers (NOT an equivalence) instead of refusing them.")
    var compatConv = false

    @Flag(
      name: .customLong("float64"), help: "Compute W·W_d in float64 (slow) instead of float32 with float64 carries.")
    var float64 = false

    @Flag(name: .customLong("no-verify"), help: "Skip the engine verification.")
    var noVerify = false

    @Option(help: "The number of attention heads for the whole-model check (default: metadata num_heads, or width/64).")
    var heads: Int?

    @Option(help: "Write the fusion and verification report as JSON to this path.")
    var report: String?

    @Option(help: "Output format: safetensors, graft, pth, npz, h5.")
    var to: String?

    @OptionGroup var reading: ReadingOptions

    @Flag(name: .shortAndLong, help: "Print only warnings and errors.")
    var quiet = false

    func validate() throws {
      if DenoiseRep.Mode(rawValue: mode) == nil {
        throw ValidationError("unknown mode '\(mode)' (mean, compat, exact)")
      }
      if let to, CheckpointFormat(argument: to) == nil { throw ValidationError("unknown format '\(to)' for --to") }
    }

    func run() throws {
      try Failure.reporting {
        let table = try Checkpoint.read(path: input, options: reading.readOptions)
        var options = DenoiseRep.FuseOptions()
        options.mode = DenoiseRep.Mode(rawValue: mode) ?? .mean
        options.tMap = try parseTMap()
        options.layerCount = layerCount
        options.seed = seed
        options.assumeUnfused = assumeUnfused
        options.compatConv = compatConv
        options.tool = Checkpoint.toolName
        if !float64 { options.product = DenoiseRepKernels.product }
        let (fused, fuseReport) = try DenoiseRep.fuse(table, options: options)
        for w in fuseReport.warnings { Failure.warn(w) }
        if !quiet {
          print(
            "fused \(fuseReport.layers.count) DenoiseRep layers (mode \(options.mode.rawValue)); removed "
              + "\(fuseReport.removed.count) leftover tensors, \(Format.bytes(fuseReport.removedBytes))")
          for l in fuseReport.layers {
            let k = l.constants
            print(
              "  \(l.layer.prefix): T = \(k.t)\(l.tFromMap ? " (t-map)" : "")  c1 = \(Format.scientific(k.c1))  "
                + "c2 = \(Format.scientific(k.c2))  c3 = \(Format.scientific(k.c3))"
                + (l.timeTermMax.map { "  time term ≤ \(Format.scientific($0))" } ?? ""))
          }
        }
        var json = JSONObject()
        json["fuse"] = fuseReport.json
        var verified = true
        if !noVerify {
          var model = VisionTransformer.Options()
          model.heads = heads
          let check = try DenoiseRepCheck.verify(
            unfused: table, fused: fused, report: fuseReport, fuseOptions: options, model: model)
          json["verification"] = check.json
          verified = check.passed
          if !quiet || !check.passed { print(check.lines.joined(separator: "\n")) }
        }
        if let report { try FileSystem.writeAll(JSONValue.object(json).serializedBytes(.pythonIndent2), to: report) }
        guard verified else {
          FileSystem.writeToStandardError(
            "graft: error: the fused model does not match the explicit one; not written\n")
          throw Failure.mismatch
        }
        let summary = try Checkpoint.write(fused, to: output, format: to.flatMap(CheckpointFormat.init(argument:)))
        if !quiet { print("wrote \(fused.count) tensors, \(Format.bytes(summary.bytesWritten)) to \(output)") }
      }
    }

    func parseTMap() throws -> [String: Int] {
      guard let tMap else { return [:] }
      let text: String
      if tMap.trimmingPrefix(while: { $0 == " " }).hasPrefix("{") {
        text = tMap
      } else {
        text = String(decoding: try FileSystem.readAll(tMap), as: UTF8.self)
      }
      guard let object = try JSONParser.parse(text).objectValue else {
        throw GraftError(.invalidArgument, "--t-map must be a JSON object {\"<layer>\": T}")
      }
      var map: [String: Int] = [:]
      for (key, value) in object {
        guard let t = value.intValue else {
          throw GraftError(.invalidArgument, "--t-map: the T of '\(key)' is \(value.kindDescription), not an integer")
        }
        map[key] = t
      }
      return map
    }
  }

  /// `graft denoiserep strip`.
  struct Strip: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Drop dm.*, time_mlp.* and the schedule buffers of an already fused (released) checkpoint.",
      discussion: """
        Every other tensor is written byte for byte as it was. Prints the removed tensors and bytes.

        Example:
          graft denoiserep strip released.pth clean.pth
        """)

    @Argument(help: "The released (fused) DenoiseRep checkpoint.")
    var input: String

    @Argument(help: "The output path; its extension picks the format unless --to is given.")
    var output: String

    @Option(help: "Write the strip report as JSON to this path.")
    var report: String?

    @Option(help: "Output format: safetensors, graft, pth, npz, h5.")
    var to: String?

    @OptionGroup var reading: ReadingOptions

    @Flag(name: .shortAndLong, help: "Print nothing but errors.")
    var quiet = false

    func validate() throws {
      if let to, CheckpointFormat(argument: to) == nil { throw ValidationError("unknown format '\(to)' for --to") }
    }

    func run() throws {
      try Failure.reporting {
        let table = try Checkpoint.read(path: input, options: reading.readOptions)
        let (clean, stripReport) = try DenoiseRep.strip(table, tool: Checkpoint.toolName)
        if let report { try FileSystem.writeAll(stripReport.json.serializedBytes(.pythonIndent2), to: report) }
        let summary = try Checkpoint.write(clean, to: output, format: to.flatMap(CheckpointFormat.init(argument:)))
        if !quiet {
          print(
            "stripped \(stripReport.layers.count) DenoiseRep layers: removed \(stripReport.removed.count) tensors "
              + "(\(Format.bytes(stripReport.removedBytes))), kept \(stripReport.kept) "
              + "(\(Format.bytes(stripReport.keptBytes))); wrote \(Format.bytes(summary.bytesWritten)) to \(output)")
        }
      }
    }
  }
}
