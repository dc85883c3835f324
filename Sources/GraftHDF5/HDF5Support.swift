import GraftCore

/// Whether this build of Graft includes HDF5 support (the `HDF5` package trait, on by default).
public enum HDF5Support {
  /// Whether HDF5 files can be read and written.
  public static var isAvailable: Bool {
    #if HDF5
      return true
    #else
      return false
    #endif
  }

  /// The version of the linked libhdf5, such as `1.10.8`, or `nil` when HDF5 support was not built.
  public static var libraryVersion: String? {
    #if HDF5
      return HDF5Library.version
    #else
      return nil
    #endif
  }

  /// Whether the linked libhdf5 was built thread-safe.
  ///
  /// `nil` when HDF5 support was not built or the library cannot say. Graft serialises its libhdf5 calls either way;
  /// this is for reports.
  public static var isLibraryThreadSafe: Bool? {
    #if HDF5
      return HDF5Library.isThreadSafe
    #else
      return nil
    #endif
  }

  /// The error every HDF5 entry point throws in a build without the `HDF5` trait.
  static func notBuilt(file: String?) -> GraftError {
    GraftError(
      .unsupported,
      "HDF5 support was not built into this Graft (the 'HDF5' package trait is off, or libhdf5-dev was missing); "
        + "rebuild with the default traits after installing libhdf5-dev",
      file: file)
  }
}
