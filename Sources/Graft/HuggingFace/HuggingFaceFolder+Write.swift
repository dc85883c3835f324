extension HuggingFaceFolder {
  /// How ``write(_:config:to:options:)`` writes a folder.
  public struct WriteOptions: Sendable {
    /// The largest shard in bytes (default 5 GB, transformers 4's `max_shard_size`); a table that fits is written as
    /// one `model.safetensors` with no index.
    public var shardSize = 5_000_000_000
    /// `generation_config.json` to write; when `nil`, the one of ``copyingFilesFrom`` is copied if it has one.
    public var generationConfig: JSONObject?
    /// A model folder whose `generation_config.json` and tokenizer files are copied.
    public var copyingFilesFrom: String?
    /// Files to write into the folder as well (a tokenizer rebuilt from GGUF), by name.
    public var extraFiles: [(name: String, bytes: [UInt8])] = []
    /// Paths being read by the operation; writing over one of them is refused.
    public var inputs: [String] = []
    /// Receives bytes written.
    public var progress: ProgressCounter?
    /// Creates default options.
    public init() {}
  }

  /// Writes `table` as a Hugging Face model folder: weights as safetensors (sharded by ``WriteOptions/shardSize``,
  /// with `model.safetensors.index.json`), `config.json` (`json.dumps(indent=2, sort_keys=True)` layout, as
  /// transformers writes it), `generation_config.json` and the tokenizer files of ``WriteOptions/copyingFilesFrom``.
  ///
  /// Every file is written atomically (temporary file, fsync, rename). The folder must not exist or be empty, so
  /// that a failed write can remove everything it wrote (and the folder, when it created it) and leave nothing
  /// half-done behind.
  ///
  /// - Throws: `invalidArgument` when the folder holds files already (naming some); any error of the writers.
  @discardableResult
  public static func write(
    _ table: TensorTable, config: JSONObject, to path: String, options: WriteOptions = WriteOptions()
  ) throws -> WriteSummary {
    let folder = path.hasSuffix("/") && path.count > 1 ? String(path.dropLast()) : path
    let existed = FileSystem.exists(folder)
    if existed {
      guard FileSystem.isDirectory(folder) else {
        throw GraftError(.invalidArgument, "the output exists and is not a folder", file: folder).on(.output)
      }
      let present = try FileSystem.contents(of: folder)
      guard present.isEmpty else {
        throw GraftError(
          .invalidArgument,
          "the output folder is not empty (" + present.sorted().prefix(8).joined(separator: ", ")
            + (present.count > 8 ? ", …" : "") + "); write a model folder into a new or empty folder", file: folder
        ).on(.output)
      }
    }
    try FileSystem.makeDirectory(folder)
    do {
      return try writeContents(table, config: config, folder: folder, options: options)
    } catch {
      // The folder was empty: everything in it now is this run's (finished files and temporaries).
      for name in (try? FileSystem.contents(of: folder)) ?? [] { FileSystem.remove(folder + "/" + name) }
      if !existed { FileSystem.removeEmptyDirectory(folder) }
      throw error
    }
  }

  private static func writeContents(
    _ table: TensorTable, config: JSONObject, folder: String, options: WriteOptions
  ) throws -> WriteSummary {
    var summary = try SafeTensors.writeSharded(
      table, directory: folder, maxShardBytes: options.shardSize, baseName: "model", inputs: options.inputs,
      progress: options.progress)
    func writeJSON(_ object: JSONObject, _ name: String) throws(GraftError) {
      let bytes = JSONValue.object(object).serializedBytes(JSONFormatting(indent: 2, asciiOnly: true, sortKeys: true))
      try FileSystem.writeAll(bytes + [0x0A], to: folder + "/" + name, inputs: options.inputs)
      summary.files.append(folder + "/" + name)
      summary.bytesWritten += bytes.count + 1
    }
    try writeJSON(config, "config.json")
    var copied: [String] = []
    var generation = options.generationConfig
    if let source = options.copyingFilesFrom {
      let names = try FileSystem.contents(of: source).sorted()
      if generation == nil && names.contains("generation_config.json") {
        generation = try readJSONObject(source + "/generation_config.json")
      }
      copied = names.filter { isTokenizerFile($0) && !FileSystem.isDirectory(source + "/" + $0) }
      let weightNames = Set(FormatDetector.huggingFaceWeightNames.map(\.name))
      let skipped = names.filter { name in
        !isTokenizerFile(name) && name != "config.json" && name != "generation_config.json"
          && !weightNames.contains(name) && !isShard(name)
      }
      if !skipped.isEmpty { summary.notes.append("not copied from \(source): " + skipped.joined(separator: ", ")) }
    }
    if let generation { try writeJSON(generation, "generation_config.json") }
    for file in options.extraFiles {
      try FileSystem.writeAll(file.bytes, to: folder + "/" + file.name, inputs: options.inputs)
      summary.files.append(folder + "/" + file.name)
      summary.bytesWritten += file.bytes.count
    }
    if let source = options.copyingFilesFrom {
      for name in copied {
        summary.bytesWritten += try copyFile(source + "/" + name, to: folder + "/" + name, inputs: options.inputs)
        summary.files.append(folder + "/" + name)
      }
    }
    return summary
  }

  /// Whether a name is a weight shard (`model-00001-of-00004.safetensors`, `pytorch_model-00001-of-00002.bin`).
  static func isShard(_ name: String) -> Bool {
    (name.hasPrefix("model-") && name.hasSuffix(".safetensors"))
      || (name.hasPrefix("pytorch_model-") && name.hasSuffix(".bin"))
  }

  /// Copies a file atomically through a memory map; returns its size.
  static func copyFile(_ source: String, to destination: String, inputs: [String]) throws(GraftError) -> Int {
    let size = try FileSystem.size(of: source)
    var out = try AtomicOutputFile(destination: destination, inputs: inputs + [source])
    if size > 0 {
      let region = try MappedRegion(path: source)
      try out.copy(from: region, range: 0..<region.count)
    }
    try out.commit()
    return size
  }
}
