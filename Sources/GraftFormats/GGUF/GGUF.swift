public import GraftCore

/// GGUF, llama.cpp's checkpoint format: reading into a ``TensorTable``, writing and quantizing (`Formats/gguf.md`).
///
/// In the table, shapes are in PyTorch order (ggml's `ne` reversed), block-quantized tensors decode lazily to
/// Float32 and keep their blocks in ``Tensor/quantization``, and every metadata key is a `metadata` entry holding
/// plain JSON, with its GGUF type under `metadata["gguf.types"]` so that writing the table back keeps the types.
public enum GGUF {
  /// The metadata key that records each GGUF key's type (see ``GGUFValue/typeDescriptor``).
  public static let typesKey = "gguf.types"
  /// The keys a split file carries about the split itself (`gguf-split`, gguf-py `add_shard_kv_data`).
  public static let splitKeys: Set<String> = ["split.no", "split.count", "split.tensors.count"]

  /// Reads a GGUF file, or all files of a split checkpoint when `path` is one of its `-0000K-of-0000N.gguf` files.
  ///
  /// - Throws: any error of ``GGUFFile/open(path:)``, and `indexMismatch` when split files disagree.
  public static func read(path: String) throws(GraftError) -> TensorTable {
    try table(from: try openAll(path: path))
  }

  /// Opens `path` and, for a split checkpoint, every other split, in split order.
  public static func openAll(path: String) throws(GraftError) -> [GGUFFile] {
    let first = try GGUFFile.open(path: path)
    guard let count = first.value(forKey: "split.count")?.intValue, count > 1 else { return [first] }
    guard let name = SplitName(path: path) else {
      throw GraftError(
        .indexMismatch,
        "the file says it is one of \(count) splits but its name does not end in -0000K-of-0000N.gguf, so the other "
          + "splits cannot be found; rename it as gguf-split named it", file: path)
    }
    guard name.count == count else {
      throw GraftError(
        .indexMismatch, "the name says \(name.count) splits but split.count is \(count)", file: path)
    }
    var files: [GGUFFile] = []
    for k in 0..<count {
      let p = name.path(index: k)
      let f = k == name.index ? first : try GGUFFile.open(path: p)
      guard f.value(forKey: "split.no")?.intValue == k, f.value(forKey: "split.count")?.intValue == count else {
        throw GraftError(
          .indexMismatch,
          "expected split.no = \(k) and split.count = \(count), found \(f.value(forKey: "split.no")?.intValue ?? -1) "
            + "and \(f.value(forKey: "split.count")?.intValue ?? -1)", file: p)
      }
      files.append(f)
    }
    let declared = files[0].value(forKey: "split.tensors.count")?.intValue
    let total = files.reduce(0) { $0 + $1.tensors.count }
    if let declared, declared != total {
      throw GraftError(
        .indexMismatch, "split.tensors.count is \(declared) but the \(count) splits hold \(total) tensors",
        file: files[0].path)
    }
    return files
  }

  /// The table of one file or of a split checkpoint's files (metadata from the first split, as llama.cpp reads it).
  public static func table(from files: [GGUFFile]) throws(GraftError) -> TensorTable {
    var table = TensorTable()
    guard let first = files.first else { return table }
    var types = JSONObject()
    for kv in first.keyValues where files.count == 1 || !splitKeys.contains(kv.key) {
      table.metadata[kv.key] = kv.value.json
      types[kv.key] = kv.value.typeDescriptor
    }
    if files.count == 1, first.value(forKey: "split.count")?.intValue == 1 {
      // A one-split file: the split keys describe nothing; drop them so a rewrite decides its own split.
      for key in splitKeys {
        table.metadata[key] = nil
        types[key] = nil
      }
    }
    table.metadata[typesKey] = .object(types)
    for file in files {
      for info in file.tensors {
        do { try table.append(info.name, try file.tensor(info)) } catch {
          throw error.inFile(file.path)
        }
      }
    }
    return table
  }

  /// A split file name, `<prefix>-<index+1 in 5 digits>-of-<count in 5 digits>.gguf` (llama.cpp `llama_split_path`).
  public struct SplitName: Sendable, Equatable {
    /// Everything before `-0000K-of-0000N.gguf`.
    public var prefix: String
    /// The zero-based split index.
    public var index: Int
    /// The number of splits.
    public var count: Int

    /// Creates a name.
    public init(prefix: String, index: Int, count: Int) {
      self.prefix = prefix
      self.index = index
      self.count = count
    }

    /// Parses a path ending in `-0000K-of-0000N.gguf`.
    public init?(path: String) {
      let suffix = "-00001-of-00001.gguf".count
      guard path.count > suffix, path.hasSuffix(".gguf") else { return nil }
      let tail = Array(path.suffix(suffix))
      guard tail[0] == "-", String(tail[6...9]) == "-of-" else { return nil }
      guard let k = Int(String(tail[1...5])), let n = Int(String(tail[10...14])), k >= 1, k <= n else { return nil }
      prefix = String(path.dropLast(suffix))
      index = k - 1
      count = n
    }

    /// The path of split `index`.
    public func path(index: Int) -> String {
      prefix + "-" + Self.fiveDigits(index + 1) + "-of-" + Self.fiveDigits(count) + ".gguf"
    }

    static func fiveDigits(_ n: Int) -> String {
      let s = String(n)
      return s.count >= 5 ? s : String(repeating: "0", count: 5 - s.count) + s
    }
  }
}
