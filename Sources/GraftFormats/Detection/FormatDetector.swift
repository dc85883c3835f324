public import GraftCore

/// Recognises a checkpoint's format from its content, never from its name.
///
/// Users rename files, download login pages under checkpoint names and commit Git LFS pointers instead of weights;
/// each of those gets a message that says what the file really is. Detection reads at most the first few KiB of a
/// file (plus the HDF5 superblock probe positions), so it costs microseconds on any size.
public enum FormatDetector {
  /// What a path turned out to be.
  public struct Detection: Sendable, Equatable {
    /// The format.
    public var format: CheckpointFormat
    /// For zip files and directories, a more precise description (`"PyTorch zip"`, `"index model.safetensors.index.json"`).
    public var detail: String
    /// The path to hand to the format's reader (a directory's index file, for instance).
    public var readerPath: String
  }

  /// Detects the format of the file or directory at `path`.
  ///
  /// - Throws: ``GraftError`` with code `unrecognizedFormat` and a diagnosis (empty file, LFS pointer, HTML page,
  ///   directory without an index, unknown magic bytes), or `io` when the path cannot be read.
  public static func detect(path: String) throws(GraftError) -> Detection {
    if FileSystem.isDirectory(path) { return try detectDirectory(path) }
    let region = try MappedRegion(path: path)
    return try detect(bytes: region.bytes, path: path)
  }

  /// Detects the format of a file whose bytes are given (the whole file, or at least its first 64 KiB).
  public static func detect(bytes: UnsafeRawBufferPointer, path: String) throws(GraftError) -> Detection {
    func found(_ format: CheckpointFormat, _ detail: String) -> Detection {
      Detection(format: format, detail: detail, readerPath: path)
    }
    let n = bytes.count
    if n == 0 {
      throw GraftError(
        .unrecognizedFormat, "the file is empty (0 bytes); the download or copy did not finish", file: path)
    }
    func starts(with magic: [UInt8], at offset: Int = 0) -> Bool {
      guard offset + magic.count <= n else { return false }
      for (k, b) in magic.enumerated() where bytes[offset + k] != b { return false }
      return true
    }
    if starts(with: GraftFile.magic) { return found(.graft, "Graft native") }
    if starts(with: [0x93] + Array("NUMPY".utf8)) { return found(.npy, "NumPy array") }
    if starts(with: Array("PK".utf8) + [3, 4]) || starts(with: Array("PK".utf8) + [5, 6]) {
      return try classifyZip(bytes, path: path)
    }
    let hdf5Signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]
    var probe = 0
    while probe + 8 <= n && probe <= 1 << 20 {
      if starts(with: hdf5Signature, at: probe) {
        return found(.hdf5, probe == 0 ? "HDF5" : "HDF5 (user block \(probe) bytes)")
      }
      probe = probe == 0 ? 512 : probe * 2
    }
    // 0x00 is no pickle opcode: a safetensors file whose header length is 0x0280…0x0580 (8-byte little-endian,
    // high bytes zero) starts with 0x80 0x02…0x05 too, and is not a pickle stream.
    if n >= 2, bytes[0] == 0x80, (2...5).contains(bytes[1]), n < 3 || bytes[2] != 0 {
      if n >= 4, bytes[2] == 0x8A, bytes[3] == 0x0A { return found(.pytorch, "PyTorch legacy raw pickle stream") }
      return found(.pytorch, "pickle stream")
    }
    if starts(with: Array("ustar".utf8), at: 257) { return found(.pytorch, "PyTorch legacy tar") }
    if starts(with: GGUFFile.magic) { return found(.gguf, ggufDetail(bytes)) }
    let text = prefixText(bytes, limit: 512)
    if text.hasPrefix("version https://git-lfs.github.com/spec/") {
      let size =
        text.split(separator: "\n").first { $0.hasPrefix("size ") }.map { " of " + $0.dropFirst(5) + " bytes" } ?? ""
      throw GraftError(
        .unrecognizedFormat,
        "this is a Git LFS pointer, not the weights: the real file\(size) was never downloaded (run `git lfs pull`)",
        file: path)
    }
    let lowered = text.drop { $0 == " " || $0 == "\n" || $0 == "\r" || $0 == "\t" || $0 == "\u{FEFF}" }.lowercased()
    if lowered.hasPrefix("<!doctype html") || lowered.hasPrefix("<html") || lowered.hasPrefix("<head")
      || (lowered.hasPrefix("<?xml") && lowered.contains("<html"))
    {
      throw GraftError(
        .unrecognizedFormat,
        "this is an HTML page (\(n) bytes), not a checkpoint: the download saved a web page (a login, error or "
          + "redirect page) under the checkpoint's name", file: path)
    }
    if let safetensors = sniffSafetensors(bytes) { return found(.safetensors, safetensors) }
    if lowered.hasPrefix("{"), text.contains("\"weight_map\"") {
      return found(.safetensorsSharded, "sharded safetensors index")
    }
    let hex = (0..<min(n, 16)).map { b -> String in
      let h = String(bytes[b], radix: 16)
      return h.count == 1 ? "0" + h : h
    }.joined(separator: " ")
    throw GraftError(
      .unrecognizedFormat,
      "unrecognised format: the first bytes are \(hex); Graft reads safetensors, .graft, PyTorch .pt/.pth/.bin, "
        + "NumPy .npy/.npz and HDF5 .h5 files", file: path, byteOffset: 0)
  }

  private static func prefixText(_ bytes: UnsafeRawBufferPointer, limit: Int) -> String {
    String(decoding: UnsafeRawBufferPointer(rebasing: bytes[0..<min(limit, bytes.count)]), as: UTF8.self)
  }

  /// A safetensors file starts with a little-endian u64 header length followed by JSON whitespace and `{`.
  private static func sniffSafetensors(_ bytes: UnsafeRawBufferPointer) -> String? {
    guard bytes.count >= 9 else { return nil }
    let length = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
    guard length >= 2, length <= 100_000_000 else { return nil }
    var i = 8
    while i < bytes.count, i < 8 + Int(length), [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 }
    guard i < bytes.count, bytes[i] == UInt8(ascii: "{") else { return nil }
    return "safetensors"
  }

  /// Zips are PyTorch archives when they hold a `data.pkl`, NumPy archives when they hold `.npy` members.
  ///
  /// Member names are found by scanning local file headers from the front, which needs no central directory and so
  /// also classifies a truncated archive (whose reader will then report the truncation precisely).
  private static func classifyZip(_ bytes: UnsafeRawBufferPointer, path: String) throws(GraftError) -> Detection {
    var names: [String] = []
    var offset = 0
    let n = bytes.count
    while offset + 30 <= n, names.count < 64 {
      guard UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) == 0x0403_4B50 else {
        break
      }
      let flags = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 6, as: UInt16.self))
      var compressed = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 18, as: UInt32.self)))
      let nameLength = Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 26, as: UInt16.self)))
      let extraLength = Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 28, as: UInt16.self)))
      guard offset + 30 + nameLength <= n else { break }
      let name = String(
        decoding: UnsafeRawBufferPointer(rebasing: bytes[(offset + 30)..<(offset + 30 + nameLength)]), as: UTF8.self)
      names.append(name)
      if name.hasSuffix("data.pkl") { break }
      // zip64 sizes live in the extra field; a data descriptor (flag bit 3) hides the size: stop scanning then.
      if compressed == 0xFFFF_FFFF {
        var e = offset + 30 + nameLength
        let end = min(n, e + extraLength)
        compressed = -1
        while e + 4 <= end {
          let id = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: e, as: UInt16.self))
          let size = Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: e + 2, as: UInt16.self)))
          if id == 1, e + 4 + 16 <= end {
            compressed = Int(
              truncatingIfNeeded: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: e + 12, as: UInt64.self)))
            break
          }
          e += 4 + size
        }
      }
      if flags & 8 != 0 || compressed < 0 { break }
      guard let next = Checked.add(offset + 30 + nameLength + extraLength, compressed) else { break }
      offset = next
    }
    if names.contains(where: { $0.hasSuffix("data.pkl") }) {
      let folder = names.first { $0.hasSuffix("data.pkl") }.map { String($0.dropLast("data.pkl".count)) } ?? ""
      return Detection(format: .pytorch, detail: "PyTorch zip, folder '\(folder.dropLast())'", readerPath: path)
    }
    if let first = names.first, first.hasSuffix(".npy") {
      return Detection(format: .npz, detail: "NumPy .npz", readerPath: path)
    }
    if names.isEmpty {
      return Detection(format: .npz, detail: "empty zip", readerPath: path)
    }
    throw GraftError(
      .unrecognizedFormat,
      "a zip archive that is neither a PyTorch checkpoint (no data.pkl) nor a NumPy .npz (members: "
        + names.prefix(5).joined(separator: ", ") + (names.count > 5 ? ", …" : "") + ")", file: path)
  }

  /// The weight files transformers' `from_pretrained` looks for in a model folder, in its order of preference.
  public static let huggingFaceWeightNames: [(name: String, format: CheckpointFormat)] = [
    ("model.safetensors.index.json", .safetensorsSharded), ("model.safetensors", .safetensors),
    ("pytorch_model.bin.index.json", .pytorch), ("pytorch_model.bin", .pytorch),
  ]

  /// A directory is a Hugging Face model folder (config.json and the weights transformers would read), a sharded
  /// safetensors checkpoint (an index) or holds a single safetensors file.
  private static func detectDirectory(_ path: String) throws(GraftError) -> Detection {
    let names = try FileSystem.contents(of: path)
    let indexes = names.filter { $0.hasSuffix(".safetensors.index.json") }
    let folder = FileSystem.withoutTrailingSlashes(path)
    if names.contains("config.json"), let weights = huggingFaceWeightNames.first(where: { names.contains($0.name) }) {
      return Detection(
        format: weights.format, detail: "Hugging Face folder, \(weights.name)",
        readerPath: FileSystem.join(folder, weights.name))
    }
    if indexes.count == 1 {
      return Detection(
        format: .safetensorsSharded, detail: "index \(indexes[0])", readerPath: FileSystem.join(folder, indexes[0]))
    }
    if indexes.count > 1 {
      throw GraftError(
        .unrecognizedFormat,
        "the folder holds several indexes (\(indexes.joined(separator: ", "))); name the one to read", file: path)
    }
    let singles = names.filter { $0.hasSuffix(".safetensors") }
    if singles.count == 1 {
      return Detection(
        format: .safetensors, detail: "single file \(singles[0])", readerPath: FileSystem.join(folder, singles[0]))
    }
    let shown = names.prefix(8).joined(separator: ", ") + (names.count > 8 ? ", …" : "")
    if singles.count > 1 {
      throw GraftError(
        .indexMismatch,
        "the folder holds \(singles.count) safetensors files but no model.safetensors.index.json to say how they fit "
          + "together (found: \(shown))", file: path)
    }
    throw GraftError(
      .unrecognizedFormat,
      "the folder holds no checkpoint Graft recognises: no *.safetensors.index.json and no .safetensors file "
        + "(found: \(names.isEmpty ? "nothing" : shown))", file: path)
  }

  /// `GGUF v3`, or a note that the version field says big-endian (the reader refuses those by name).
  static func ggufDetail(_ bytes: UnsafeRawBufferPointer) -> String {
    guard bytes.count >= 8 else { return "GGUF" }
    let version = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
    if version & 0xFFFF == 0 && version != 0 { return "GGUF v\(version.byteSwapped), big-endian" }
    return "GGUF v\(version)"
  }
}
