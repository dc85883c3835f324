public import GraftCore

/// Reads and writes `.safetensors` files and Hugging Face sharded checkpoints.
///
/// The reader performs every validation of the reference Rust crate, in the crate's order, and adds an explicit
/// duplicate-name check. The writer produces the same bytes as the Python `safetensors` package for the same tensors
/// and metadata.
public enum SafeTensors {
  /// The largest header the crate accepts, on read and on write.
  public static let maximumHeaderLength = 100_000_000

  /// Options for reading.
  public struct ReadOptions: Sendable {
    /// What to do when the header repeats a name: reject (the default) or keep the last, as the crate does.
    public var duplicateKeys: JSONParser.DuplicateKeys = .reject
    /// Creates default options.
    public init() {}
  }

  /// What the writer does with aliases (two names sharing one storage).
  public enum AliasPolicy: Sendable, Hashable {
    /// Store the target once and record `metadata[alias] = target`, as `safetensors.torch.save_model` does.
    case recordInMetadata
    /// Store the bytes again under the alias's name.
    case duplicate
  }

  /// Options for writing.
  public struct WriteOptions: Sendable {
    /// Add `"format": "pt"` to the metadata when it has no `format` key (transformers refuses files without it).
    public var addFormatKey = true
    /// Sort metadata keys by their UTF-8 bytes instead of keeping the table's order.
    public var sortMetadataKeys = false
    /// How to store aliases.
    public var aliasPolicy: AliasPolicy = .recordInMetadata
    /// Creates default options.
    public init() {}
  }

  /// A parsed and validated safetensors header.
  public struct Header: Sendable, Hashable {
    /// One tensor entry of the header.
    public struct TensorInfo: Sendable, Hashable {
      /// The tensor's name.
      public var name: String
      /// The element type.
      public var dtype: DType
      /// The dimensions (logical element counts, so `F4` counts nibbles).
      public var shape: [Int]
      /// The byte range relative to ``Header/dataStart`` (the header's `data_offsets`).
      public var dataOffsets: Range<Int>

      /// Creates an entry.
      public init(name: String, dtype: DType, shape: [Int], dataOffsets: Range<Int>) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.dataOffsets = dataOffsets
      }
    }

    /// The `__metadata__` object in file order; `nil` when the key is absent or `null`.
    public var metadata: JSONObject?
    /// The tensors in file order (by data offset, which is the order of their bytes).
    public var tensors: [TensorInfo]
    /// The header length N from the 8-byte prefix, padding included.
    public var headerLength: Int

    /// The absolute file offset of the byte buffer (8 + N).
    public var dataStart: Int { 8 + headerLength }

    /// Creates a header.
    public init(metadata: JSONObject?, tensors: [TensorInfo], headerLength: Int) {
      self.metadata = metadata
      self.tensors = tensors
      self.headerLength = headerLength
    }
  }

  /// The reference crate's `SafeTensorError` variant that a Graft error corresponds to.
  ///
  /// Graft errors from this module start their message with the crate's `Display` text, so users can match them
  /// against the strings Python prints (`SafetensorError: Error while deserializing header: …`).
  public enum CrateErrorKind: String, Sendable, CaseIterable {
    /// `InvalidHeader(Utf8Error)`.
    case invalidHeader
    /// `InvalidHeaderDeserialization(serde_json::Error)`.
    case invalidHeaderDeserialization
    /// `HeaderTooLarge`.
    case headerTooLarge
    /// `HeaderTooSmall`.
    case headerTooSmall
    /// `InvalidHeaderLength`.
    case invalidHeaderLength
    /// `TensorNotFound(String)`.
    case tensorNotFound
    /// `TensorInvalidInfo`.
    case tensorInvalidInfo
    /// `InvalidOffset(String)`.
    case invalidOffset
    /// `InvalidTensorView(Dtype, Vec<usize>, usize)`.
    case invalidTensorView
    /// `MetadataIncompleteBuffer`.
    case metadataIncompleteBuffer
    /// `ValidationOverflow`.
    case validationOverflow
    /// `MisalignedSlice`.
    case misalignedSlice

    /// The start of the crate's `Display` text, which every message of this kind begins with.
    public var displayPrefix: String {
      switch self {
      case .invalidHeader: return "invalid UTF-8 in header"
      case .invalidHeaderDeserialization: return "invalid JSON in header"
      case .headerTooLarge: return "header too large"
      case .headerTooSmall: return "header too small"
      case .invalidHeaderLength: return "invalid header length"
      case .tensorNotFound: return "tensor `"
      case .tensorInvalidInfo: return "invalid shape, data type, or offset for tensor"
      case .invalidOffset: return "invalid offset for tensor `"
      case .invalidTensorView: return "tensor of type "
      case .metadataIncompleteBuffer: return "incomplete metadata, file not fully covered"
      case .validationOverflow: return "overflow computing buffer size from shape and/or element type"
      case .misalignedSlice:
        return
          "The slice is slicing for subbytes dtypes, and the slice does not end up at a byte boundary, this is invalid."
      }
    }

    /// The GraftError code this kind is reported with.
    public var code: GraftError.Code {
      switch self {
      case .invalidHeader, .invalidHeaderLength: return .invalidHeader
      case .invalidHeaderDeserialization: return .invalidJSON
      case .headerTooLarge: return .limitExceeded
      case .headerTooSmall: return .truncated
      case .tensorNotFound: return .tensorNotFound
      case .tensorInvalidInfo, .invalidTensorView, .misalignedSlice: return .invalidTensorInfo
      case .invalidOffset: return .invalidOffset
      case .metadataIncompleteBuffer: return .truncated
      case .validationOverflow: return .overflow
      }
    }

    /// Classifies an error thrown by this module, or returns `nil` for errors the crate has no variant for
    /// (duplicate names, I/O, sharding).
    public init?(_ error: GraftError) {
      // Longer prefixes first: "tensor `" would otherwise shadow nothing, but keep the order explicit.
      let ordered: [CrateErrorKind] = [
        .misalignedSlice, .metadataIncompleteBuffer, .validationOverflow, .tensorInvalidInfo, .invalidOffset,
        .invalidHeaderDeserialization, .invalidHeader, .headerTooLarge, .headerTooSmall, .invalidHeaderLength,
        .invalidTensorView, .tensorNotFound,
      ]
      guard error.code != .duplicateKey,
        let kind = ordered.first(where: { error.message.hasPrefix($0.displayPrefix) })
      else { return nil }
      self = kind
    }
  }

  /// Builds an error whose message starts with the crate's Display text for `kind`.
  static func crateError(
    _ kind: CrateErrorKind, _ detail: String, file: String?, tensor: String? = nil, at offset: Int?,
    code: GraftError.Code? = nil
  ) -> GraftError {
    let display: String
    switch kind {
    case .invalidOffset: display = "invalid offset for tensor `\(tensor ?? "")`"
    case .tensorNotFound: display = "tensor `\(tensor ?? "")` not found"
    default: display = kind.displayPrefix
    }
    let separator = display.hasSuffix(".") ? " " : ": "
    return GraftError(
      code ?? kind.code, detail.isEmpty ? display : display + separator + detail, file: file, tensor: tensor,
      byteOffset: offset)
  }
}

/// Builds a `JSONObject` with last-wins assignment in O(1) per key (`JSONObject`'s own setter searches linearly,
/// which a header with a million metadata keys would turn quadratic).
struct OrderedMembers {
  private var members: [(key: String, value: JSONValue)] = []
  private var index: [String: Int] = [:]

  /// Sets `key`, keeping its first position when it already exists.
  mutating func set(_ key: String, _ value: JSONValue) {
    if let i = index[key] {
      members[i].value = value
    } else {
      index[key] = members.count
      members.append((key, value))
    }
  }

  /// Whether `key` is present.
  func contains(_ key: String) -> Bool { index[key] != nil }

  /// The object.
  var object: JSONObject { JSONObject(members) }
}
