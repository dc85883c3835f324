@_exported public import GraftCheck
@_exported public import GraftCore
@_exported public import GraftEngine
@_exported public import GraftFormats
@_exported public import GraftHDF5
@_exported public import GraftSurgery

/// Opens and saves checkpoints in any format Graft knows, choosing the reader from the file's content.
///
/// This is the library's front door:
///
///     let table = try Checkpoint.read(path: "model.pth")
///     try Checkpoint.write(table, to: "model.safetensors")
///
/// Formats live in their own modules (`GraftFormats`, `GraftHDF5`); this type only dispatches.
public enum Checkpoint {
  /// The version of Graft, recorded in lineage.
  public static let version = "0.1.0"
  /// `graft <version>`, the tool name recorded in lineage records.
  public static var toolName: String { "graft \(version)" }

  /// What this build holds, one line each: the version, whether HDF5 is built in, the engine's SIMD features.
  public static var buildDescription: String {
    [
      toolName,
      HDF5Support.isAvailable ? "HDF5 \(HDF5Support.libraryVersion ?? "?") built in" : "HDF5: not built",
      "engine: \(EngineBuildInfo.features)",
    ].joined(separator: "\n")
  }

  /// How to read a checkpoint.
  public struct ReadOptions: Sendable {
    /// For nested PyTorch checkpoints: the path of the state dict to read (`model`, `ema_state`, `state_dict`).
    public var select: String?
    /// Prefixes to strip from every name (`module.`), applied after reading.
    public var stripPrefixes: [String] = []
    /// Accept duplicate keys in JSON headers (last wins) instead of refusing the file.
    public var lenientDuplicates = false
    /// The HDF5 layout to assume.
    public var hdf5Layout: HDF5Checkpoint.Layout = .auto
    /// Creates default options.
    public init() {}
  }

  /// Detects the format of the file or folder at `path`.
  public static func detect(path: String) throws(GraftError) -> FormatDetector.Detection {
    do { return try FormatDetector.detect(path: path) } catch { throw error.side == nil ? error.on(.input) : error }
  }

  /// Reads a checkpoint, detecting its format from its content.
  ///
  /// Only headers are read: tensor bytes stay in the file (memory-mapped) until something reads them.
  public static func read(path: String, options: ReadOptions = ReadOptions()) throws -> TensorTable {
    try read(path: path, detection: try detect(path: path), options: options)
  }

  /// Reads a checkpoint whose format was already detected (so callers that need the detection do not detect twice).
  public static func read(
    path: String, detection: FormatDetector.Detection, options: ReadOptions = ReadOptions()
  )
    throws -> TensorTable
  {
    do { return try readTable(path: path, detection: detection, options: options) } catch let error as GraftError {
      throw error.side == nil ? error.on(.input) : error
    }
  }

  private static func readTable(
    path: String, detection: FormatDetector.Detection, options: ReadOptions
  ) throws -> TensorTable {
    var table: TensorTable
    switch detection.format {
    case .safetensors, .safetensorsSharded:
      var o = SafeTensors.ReadOptions()
      if options.lenientDuplicates { o.duplicateKeys = .keepLast }
      table =
        detection.format == .safetensors
        ? try SafeTensors.read(path: detection.readerPath, options: o)
        : try SafeTensors.readSharded(path: detection.readerPath, options: o)
    case .graft:
      table = try GraftFile.read(path: detection.readerPath)
    case .pytorch where detection.readerPath.hasSuffix(".index.json"):
      table = try HuggingFaceFolder.readPyTorchShards(index: detection.readerPath)
    case .pytorch:
      var o = PyTorchCheckpoint.ReadOptions()
      o.select = options.select
      table = try PyTorchCheckpoint.read(path: detection.readerPath, options: o)
    case .npy:
      table = TensorTable()
      let name = NumPyNaming.tensorName(forFile: path)
      try table.append(name, try NumPyFormat.readNPY(path: detection.readerPath))
    case .npz:
      table = try NumPyFormat.readNPZ(path: detection.readerPath)
    case .hdf5:
      var o = HDF5Checkpoint.ReadOptions()
      o.layout = options.hdf5Layout
      table = try HDF5Checkpoint.read(path: detection.readerPath, options: o)
    case .gguf:
      table = try GGUF.read(path: detection.readerPath)
    }
    if options.select != nil && detection.format != .pytorch {
      throw GraftError(
        .invalidArgument,
        "choosing a nested state dict applies to PyTorch checkpoints; this is \(detection.format.displayName)",
        file: path
      ).resolved(by: "select")
    }
    for prefix in options.stripPrefixes { try table.stripPrefix(prefix) }
    table.source = path
    return table
  }

  /// How to write a checkpoint.
  public struct WriteOptions: Sendable {
    /// For safetensors: maximum shard size in bytes; `nil` writes one file.
    public var shardSize: Int?
    /// For safetensors: add `"format": "pt"` when the metadata has no `format` key.
    public var addFormatKey = true
    /// For `.graft`: compress tensors (zlib after byte shuffle).
    public var compress = false
    /// For `.graft`: a lineage record to append.
    public var lineage: LineageRecord?
    /// For `.pth`: nest the state dict under this key (`model`, `state_dict`).
    public var nestUnder: String?
    /// For HDF5: the layout to write.
    public var hdf5Layout: HDF5Checkpoint.Layout = .plain
    /// For GGUF: the stored type of each tensor (``GGUF/Target``); `nil` keeps each tensor's type.
    public var ggufTarget: GGUF.Target?
    /// Paths being read by the operation; writing over one of them is refused.
    public var inputs: [String] = []
    /// Receives bytes written.
    public var progress: ProgressCounter?
    /// Creates default options.
    public init() {}
  }

  /// Writes a checkpoint in `format` (or the format the path's extension names).
  ///
  /// - Throws: `invalidArgument` when no format is given and the extension names none.
  @discardableResult
  public static func write(
    _ table: TensorTable, to path: String, format: CheckpointFormat? = nil, options: WriteOptions = WriteOptions()
  ) throws -> WriteSummary {
    do { return try writeTable(table, to: path, format: format, options: options) } catch let error as GraftError {
      // Reads of the input met while streaming are marked as the input's where they happen; the rest is the output's.
      throw error.side == nil ? error.on(.output) : error
    }
  }

  private static func writeTable(
    _ table: TensorTable, to path: String, format: CheckpointFormat?, options: WriteOptions
  ) throws -> WriteSummary {
    var format = format ?? CheckpointFormat.forOutputPath(path)
    if options.shardSize != nil && (format == nil || format == .safetensors) { format = .safetensorsSharded }
    guard let format else {
      throw GraftError(
        .invalidArgument,
        "cannot tell the output format from the name; use an extension (.safetensors, .graft, .pth, .npz, .h5) or name "
          + "the format",
        file: path
      ).resolved(by: "format")
    }
    switch format {
    case .safetensors:
      var o = SafeTensors.WriteOptions()
      o.addFormatKey = options.addFormatKey
      return try SafeTensors.write(table, to: path, options: o, inputs: options.inputs, progress: options.progress)
    case .safetensorsSharded:
      var o = SafeTensors.WriteOptions()
      o.addFormatKey = options.addFormatKey
      let directory = path.hasSuffix(".safetensors") ? AtomicOutputFile.folder(of: path) : path
      let base =
        path.hasSuffix(".safetensors")
        ? String((path.split(separator: "/").last ?? "model").dropLast(".safetensors".count)) : "model"
      return try SafeTensors.writeSharded(
        table, directory: directory, maxShardBytes: options.shardSize ?? 5_000_000_000, baseName: base, options: o,
        inputs: options.inputs, progress: options.progress)
    case .graft:
      var o = GraftFile.WriteOptions()
      if options.compress { o.compression = .deflate(level: 6) }
      o.appendLineage = options.lineage
      return try GraftFile.write(table, to: path, options: o, inputs: options.inputs, progress: options.progress)
    case .pytorch:
      var o = PyTorchCheckpoint.WriteOptions()
      o.nestUnder = options.nestUnder
      return try PyTorchCheckpoint.write(
        table, to: path, options: o, inputs: options.inputs, progress: options.progress)
    case .npy:
      guard table.count == 1, let entry = table.entries.first else {
        throw GraftError(
          .invalidArgument,
          "a .npy file holds exactly one array; this checkpoint has \(table.count) tensors (use .npz)",
          file: path)
      }
      return try NumPyFormat.writeNPY(entry.tensor, to: path, inputs: options.inputs)
    case .npz:
      return try NumPyFormat.writeNPZ(table, to: path, inputs: options.inputs, progress: options.progress)
    case .hdf5:
      var o = HDF5Checkpoint.WriteOptions()
      o.layout = options.hdf5Layout
      o.compress = options.compress
      return try HDF5Checkpoint.write(table, to: path, options: o, inputs: options.inputs, progress: options.progress)
    case .gguf:
      var o = GGUF.TableWriteOptions()
      o.target = options.ggufTarget ?? .keep
      return try GGUF.write(table, to: path, options: o, inputs: options.inputs, progress: options.progress)
    }
  }
}

/// How single-array NumPy files are named inside a tensor table.
public enum NumPyNaming {
  /// The tensor name for a `.npy` file: its base name without the extension.
  public static func tensorName(forFile path: String) -> String {
    let base = path.split(separator: "/").last.map(String.init) ?? path
    return base.hasSuffix(".npy") ? String(base.dropLast(4)) : base
  }
}
