#if HDF5
  internal import CHDF5

  /// One open libhdf5 identifier, closed exactly once when the owner goes away.
  ///
  /// Noncopyable for the reason swift-system's `FileDescriptor` wrappers are: a copied `hid_t` would be closed twice
  /// or leaked. Predefined types (`H5T_IEEE_F32LE`, …) belong to the library and are never wrapped.
  struct HDF5Handle: ~Copyable {
    /// Which `H5?close` function releases the identifier.
    enum Kind {
      case file, object, dataspace, datatype, attribute, propertyList
    }

    /// The identifier, valid until this owner is destroyed.
    let id: hid_t
    /// How to close it.
    let kind: Kind

    init(_ id: hid_t, _ kind: Kind) {
      self.id = id
      self.kind = kind
    }

    deinit { HDF5Library.close(id, kind) }
  }

  /// An open file shared by the lazy tensors read from it; libhdf5 closes the file when the last one goes away.
  final class HDF5SharedFile: @unchecked Sendable {
    // Invariant: immutable after init. Every libhdf5 call holds HDF5Library.serial, so the identifier may be used
    // from any thread whether or not the library was built thread-safe.
    let handle: HDF5Handle
    /// The file's path, for error messages.
    let path: String

    init(handle: consuming HDF5Handle, path: String) {
      self.handle = handle
      self.path = path
    }
  }
#endif
