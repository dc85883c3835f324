public import GraftCore

/// Reads and writes checkpoints stored in HDF5: plain h5py files, Keras 2 `.h5` and Keras 3 `.weights.h5`.
///
/// Tensor bytes are never converted by libhdf5: datasets are read with their own type as the memory type and
/// byte-swapped by Graft when big-endian, and written from little-endian bytes with a matching file type. Contiguous,
/// unfiltered little-endian datasets are memory-mapped zero-copy. `Formats/hdf5.md` documents the name mapping of
/// each layout.
public enum HDF5Checkpoint {
  /// How tensors are laid out in the file.
  public enum Layout: String, Sendable, CaseIterable {
    /// Detect the layout when reading (Keras 3, then Keras 2, then plain).
    case auto
    /// Datasets in groups: tensor `a.b.c` is the dataset `/a/b/c` (or `/a.b.c` in flat mode).
    case plain
    /// Keras 2 `save_weights`/`save` files: `[model_weights/]<layer>/<weight path>` plus `layer_names` and
    /// `weight_names` attributes.
    case keras2
    /// Keras 3 `.weights.h5`: `layers/<name>/vars/<i>`, nested layers, optimizer variables under `optimizer/`.
    case keras3
  }

  /// Caps on what an attribute may make Graft allocate (`Formats/limits.md`); lowered only by tests.
  public struct Limits: Sendable {
    /// Elements of one attribute.
    public var maxAttributeElements = 1 << 24
    /// Bytes of one fixed-size string attribute.
    public var maxAttributeBytes = 1 << 28
    /// The default caps.
    public init() {}
  }

  /// Options for ``read(path:options:)``.
  public struct ReadOptions: Sendable {
    /// The layout to read; `.auto` detects it.
    public var layout: Layout = .auto
    /// Resource caps.
    public var limits = Limits()
    /// Creates the default options.
    public init() {}
  }

  /// Options for ``write(_:to:options:inputs:progress:)``.
  public struct WriteOptions: Sendable {
    /// The layout to write; `.auto` means `.plain`.
    public var layout: Layout = .plain
    /// Store datasets chunked with shuffle + gzip (level 4) instead of contiguous.
    public var compress: Bool = false
    /// Plain layout only: store every tensor as a dataset in the root group named by its full name, so names such as
    /// `a.b` and `a.b.c` (a dataset and a group at `/a/b`) can coexist.
    public var flat: Bool = false
    /// Creates the default options.
    public init() {}
  }

  /// The 8-byte HDF5 superblock signature, found at offset 0, 512, 1024, 2048, … of an HDF5 file.
  public static let signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]

  /// Reads every tensor of an HDF5 checkpoint, lazily.
  ///
  /// Root attributes become metadata under their own names; attributes of other objects become metadata keys
  /// `/<object path>@<attribute>`. Datasets that hold no tensor (strings, references) are listed in the metadata key
  /// `hdf5.skipped`.
  ///
  /// - Throws: ``GraftError``: `unrecognizedFormat` when the file is not HDF5 or holds no tensors, `unsupported`
  ///   for external links, external or virtual datasets, `limitExceeded` for decompression bombs, and libhdf5's own
  ///   reason for corrupt or truncated files.
  public static func read(path: String, options: ReadOptions = .init()) throws(GraftError) -> TensorTable {
    #if HDF5
      try guardFile(path: path, layout: options.layout)
    #endif
    return try readInProcess(path: path, options: options)
  }

  static func readInProcess(path: String, options: ReadOptions) throws(GraftError) -> TensorTable {
    #if HDF5
      do { return try HDF5Reader(path: path, limits: options.limits).read(layout: options.layout) } catch {
        throw error.inFile(path)
      }
    #else
      throw HDF5Support.notBuilt(file: path)
    #endif
  }

  /// Writes a table as an HDF5 file, atomically (temporary file in the destination folder, fsync, rename).
  ///
  /// Tensors are streamed one by one in chunks, so memory stays bounded by a chunk whatever the checkpoint's size.
  /// Aliases become hard links to the stored dataset.
  ///
  /// - Parameters:
  ///   - inputs: Paths being read by the operation; writing over one of them is refused.
  ///   - progress: Advanced by the number of tensor bytes written.
  /// - Returns: The file written and its size.
  public static func write(
    _ table: TensorTable, to path: String, options: WriteOptions = .init(), inputs: [String] = [],
    progress: ProgressCounter? = nil
  ) throws -> WriteSummary {
    #if HDF5
      return try HDF5Writer(table: table, destination: path, options: options, progress: progress).write(
        inputs: inputs)
    #else
      throw HDF5Support.notBuilt(file: path)
    #endif
  }

  /// A readable summary of an HDF5 file for `graft inspect`: the layout found, the group tree with datasets (dtype,
  /// shape, storage) and attributes.
  public static func describe(path: String) throws(GraftError) -> String {
    try description(path: path).lines.joined(separator: "\n")
  }

  /// What ``describe(path:)`` shows, as values.
  public static func description(path: String) throws(GraftError) -> HDF5Description {
    #if HDF5
      try guardFile(path: path, layout: .auto)
    #endif
    return try describeInProcess(path: path)
  }

  static func describeInProcess(path: String) throws(GraftError) -> HDF5Description {
    #if HDF5
      do { return try HDF5Reader(path: path).describe() } catch { throw error.inFile(path) }
    #else
      throw HDF5Support.notBuilt(file: path)
    #endif
  }
}
