public import GraftCore

/// Graft's native checkpoint format, `.graft` (specification: `Formats/graft.md`, format version 1).
///
/// Unlike safetensors, a `.graft` file aligns every tensor to 64 bytes, checksums every tensor and its header,
/// stores tied weights once (aliases), keeps metadata of any JSON type and the lineage of the operations that
/// produced it, and can deflate tensors losslessly. Writers stream each tensor once with bounded memory; the index
/// sits after the data and is found through a fixed 32-byte trailer at the end of the file.
public enum GraftFile {
  /// The file name extension, without the dot.
  public static let fileExtension = "graft"

  /// The first eight bytes of every `.graft` file: `GRAFT`, 0x89, CR, LF.
  ///
  /// The high-bit byte catches 7-bit transfers and the CR LF pair catches newline conversion, as in PNG.
  public static let magic: [UInt8] = [0x47, 0x52, 0x41, 0x46, 0x54, 0x89, 0x0D, 0x0A]

  /// The major format version this library writes and reads; files with a larger major version are refused.
  public static let majorVersion = 1
  /// The minor format version this library writes; larger minor versions only add optional fields.
  public static let minorVersion = 0

  /// How tensor bytes are stored.
  public enum Compression: Sendable, Hashable, CustomStringConvertible {
    /// Stored as is, 64-byte aligned and mapped zero-copy by readers.
    case none
    /// Byte-shuffled by element size, then zlib-deflated in independent 1 MiB blocks; `level` is 0 to 9.
    case deflate(level: Int)

    /// `none` or `deflate(6)`.
    public var description: String {
      switch self {
      case .none: return "none"
      case .deflate(let level): return "deflate(\(level))"
      }
    }
  }

  /// Options for ``write(_:to:options:inputs:progress:)``.
  public struct WriteOptions: Sendable {
    /// Per-tensor compression, off by default; blocks that do not shrink are stored raw.
    public var compression: Compression = .none
    /// A record appended to the table's lineage; its `output` is set to the written content digest.
    public var appendLineage: LineageRecord? = nil

    /// Creates default options: no compression, no lineage record.
    public init() {}
  }

  /// Options for ``read(path:options:)``.
  public struct ReadOptions: Sendable {
    /// Check every tensor's XXH64 before any of its bytes is handed out (on by default).
    ///
    /// The checks run in file order on another thread from the first read of a tensor on, a bounded distance ahead
    /// of the readers, so a conversion (which reads in order) finds its tensors already checked; a read of a tensor
    /// whose bytes do not match fails with `checksumMismatch` (file, tensor, offset). Opening a file reads only its
    /// header, whose checksum is checked on every open regardless. Turn it off only where the bytes are checked
    /// some other way (``verify(path:progress:)`` hashes every tensor itself).
    public var verifyTensorChecksumsOnRead = true

    /// Creates default options (every checksum checked).
    public init() {}
  }

  /// The result of ``verify(path:progress:)``.
  public struct VerifyReport: Sendable {
    /// The number of stored tensors whose checksums were checked.
    public var tensorsChecked: Int
    /// The number of stored bytes hashed.
    public var bytesChecked: Int
    /// Every problem found, each with file, tensor and byte offset.
    public var problems: [GraftError]
    /// Whether no problem was found.
    public var isValid: Bool { problems.isEmpty }

    /// Creates a report.
    public init(tensorsChecked: Int, bytesChecked: Int, problems: [GraftError]) {
      self.tensorsChecked = tensorsChecked
      self.bytesChecked = bytesChecked
      self.problems = problems
    }
  }

  /// The layout of a `.graft` file, for `graft inspect`.
  public struct FileInfo: Sendable {
    /// One entry of the index.
    public struct TensorInfo: Sendable {
      /// The tensor's name.
      public var name: String
      /// The element type.
      public var dtype: DType
      /// The dimensions.
      public var shape: [Int]
      /// For an alias, the name of the stored tensor it shares; the other fields then describe that tensor.
      public var aliasOf: String?
      /// The absolute offset of the stored bytes (a multiple of 64).
      public var offset: Int
      /// The number of bytes stored in the file for this entry (0 for an alias).
      public var storedBytes: Int
      /// The number of bytes of the tensor once decompressed.
      public var byteCount: Int
      /// How the bytes are stored.
      public var compression: Compression
      /// XXH64 of the stored bytes, as `xxh64:<16 hex digits>`.
      public var checksum: String
      /// XXH64 of the decompressed bytes (equal to ``checksum`` when uncompressed).
      public var digest: String
    }

    /// The format version as `major.minor`.
    public var formatVersion: String { "\(majorVersion).\(minorVersion)" }
    /// The major format version.
    public var majorVersion: Int
    /// The minor format version.
    public var minorVersion: Int
    /// The size of the file in bytes.
    public var fileSize: Int
    /// The absolute offset of the JSON index (the header).
    public var headerOffset: Int
    /// The length of the JSON index in bytes.
    public var headerLength: Int
    /// The header checksum from the trailer, as `xxh64:<16 hex digits>`.
    public var headerChecksum: String
    /// The content digest recorded in the index (``TensorTable/contentDigest()`` of the table).
    public var contentDigest: String
    /// The entries in table order, aliases included.
    public var tensors: [TensorInfo]
    /// The metadata.
    public var metadata: JSONObject
    /// The lineage, oldest first.
    public var lineage: [LineageRecord]
  }
}
