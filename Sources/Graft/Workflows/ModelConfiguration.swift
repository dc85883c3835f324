public import GraftCore
public import GraftEngine

/// The engine model's configuration as every workflow reports it, with the architecture metadata found beside the
/// checkpoint.
public struct ModelConfiguration: Sendable {
  /// The `config.json` (or `<name>.config.json`, `pretrained_cfg.json`) read beside the checkpoint, if any.
  public var metadataPath: String?
  /// The resolved configuration, each value with its source.
  public var configuration: VisionTransformer.Configuration

  /// The largest architecture description read (a timm or Hugging Face `config.json` is a few KiB).
  public static let maxMetadataBytes = 1 << 20

  /// The files looked for beside `checkpoint`, in order: `<name>.config.json`, then the folder's `config.json` and
  /// `pretrained_cfg.json` (a Hugging Face hub download keeps `config.json` beside `model.safetensors`).
  public static func metadataCandidates(beside checkpoint: String) -> [String] {
    if FileSystem.isDirectory(checkpoint) { return [checkpoint + "/config.json", checkpoint + "/pretrained_cfg.json"] }
    let folder = AtomicOutputFile.folder(of: checkpoint)
    let name = checkpoint.split(separator: "/").last.map(String.init) ?? checkpoint
    let stem = name.lastIndex(of: ".").map { String(name[..<$0]) } ?? name
    return [folder + "/" + stem + ".config.json", folder + "/config.json", folder + "/pretrained_cfg.json"]
  }

  /// `options` with ``VisionTransformer/Options/architectureMetadata`` from the first candidate file beside
  /// `checkpoint` (unless the options already carry metadata), and that file's path.
  ///
  /// - Throws: `limitExceeded` for a file over ``maxMetadataBytes``; `invalidJSON` when it is not a JSON object.
  public static func options(
    _ options: VisionTransformer.Options, beside checkpoint: String
  ) throws(GraftError) -> (options: VisionTransformer.Options, metadataPath: String?) {
    guard options.architectureMetadata == nil,
      let path = metadataCandidates(beside: checkpoint).first(where: {
        FileSystem.exists($0) && !FileSystem.isDirectory($0)
      })
    else { return (options, nil) }
    let size = try FileSystem.size(of: path)
    guard size <= maxMetadataBytes else {
      throw GraftError(
        .limitExceeded, "is \(size) bytes; an architecture description is read up to \(maxMetadataBytes)", file: path)
    }
    let parsed: JSONValue
    do {
      parsed = try JSONParser.parse(String(decoding: try FileSystem.readAll(path), as: UTF8.self))
    } catch {
      throw error.inFile(path)
    }
    guard let object = parsed.objectValue else {
      throw GraftError(.invalidJSON, "is not a JSON object; expected a timm or Hugging Face config.json", file: path)
    }
    var o = options
    o.architectureMetadata = object
    o.architectureMetadataSource = path.split(separator: "/").last.map(String.init) ?? path
    return (o, path)
  }

  /// Resolves the configuration of `table` read from `checkpoint`, with the metadata found beside it.
  ///
  /// - Throws: the engine's refusal (naming the options that resolve it) or a bad metadata file, located in
  ///   `checkpoint`.
  public static func resolve(
    _ table: TensorTable, checkpoint: String, options: VisionTransformer.Options
  ) throws(GraftError) -> (configuration: ModelConfiguration, options: VisionTransformer.Options) {
    let (o, path) = try Self.options(options, beside: checkpoint)
    do {
      return (
        ModelConfiguration(
          metadataPath: path, configuration: try VisionTransformer.configuration(of: table, options: o)), o
      )
    } catch {
      throw error.inFile(checkpoint)
    }
  }

  /// A heading (`model: vit`, with the metadata file) and one indented `name = value (source)` line per value.
  public func lines(_ heading: String = "model: vit") -> [String] {
    [heading + (metadataPath.map { " (architecture metadata: \($0))" } ?? "")]
      + configuration.lines.map { "  " + $0 }
  }

  /// The configuration as JSON, with `architecture_metadata` naming the file read.
  public var json: JSONValue {
    var object = configuration.json.objectValue ?? JSONObject()
    object["architecture_metadata"] = metadataPath.map(JSONValue.string) ?? .null
    return .object(object)
  }
}
