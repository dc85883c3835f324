#if HDF5
  internal import CHDF5
  import GraftCore

  extension HDF5Library {
    // MARK: - Files

    /// Opens a file read-only.
    static func openFile(_ path: String) throws(GraftError) -> HDF5Handle {
      serial.lock()
      defer { serial.unlock() }
      try initialize()
      return try owned(H5Fopen(path, graft_h5f_acc_rdonly(), graft_h5p_default()), .file, "H5Fopen")
    }

    /// Creates a new file (refusing to replace one) whose root group tracks link creation order.
    static func createFile(_ path: String) throws(GraftError) -> HDF5Handle {
      serial.lock()
      defer { serial.unlock() }
      try initialize()
      let fcpl = try owned(H5Pcreate(graft_h5p_file_create()), .propertyList, "H5Pcreate(file create)")
      let order = graft_h5p_crt_order_tracked() | graft_h5p_crt_order_indexed()
      try check(H5Pset_link_creation_order(fcpl.id, order), "H5Pset_link_creation_order")
      try check(H5Pset_attr_creation_order(fcpl.id, order), "H5Pset_attr_creation_order")
      try untrackTimes(fcpl)
      let fapl = try owned(H5Pcreate(graft_h5p_file_access()), .propertyList, "H5Pcreate(file access)")
      // v1.8 object formats: readable by every libhdf5 since 2008, and needed for creation order and big attributes.
      try check(H5Pset_libver_bounds(fapl.id, H5F_LIBVER_V18, H5F_LIBVER_V18), "H5Pset_libver_bounds")
      // No file lock on a temporary file no one else can name. libhdf5 opens without O_CLOEXEC, so a child process
      // another thread starts meanwhile inherits the descriptor and with it the exclusive lock, which then refuses
      // every open of the finished file until that child exits. Reads keep their shared lock: it is what stops Graft
      // from reading a file h5py is still writing.
      try check(H5Pset_file_locking(fapl.id, false, true), "H5Pset_file_locking")
      return try owned(H5Fcreate(path, graft_h5f_acc_excl(), fcpl.id, fapl.id), .file, "H5Fcreate")
    }

    /// Leaves access/modification/change/birth times out of object headers: the same table must give the same bytes.
    static func untrackTimes(_ plist: borrowing HDF5Handle) throws(GraftError) {
      serial.lock()
      defer { serial.unlock() }
      try check(H5Pset_obj_track_times(plist.id, false), "H5Pset_obj_track_times")
    }

    /// Flushes a file before its handle closes it, reporting failures that a plain close would swallow.
    static func closeFile(_ file: borrowing HDF5Handle) throws(GraftError) {
      serial.lock()
      defer { serial.unlock() }
      let status = H5Fflush(file.id, H5F_SCOPE_LOCAL)
      guard status >= 0 else { throw failure("H5Fflush", code: .io) }
    }

    // MARK: - Groups and links

    /// Opens any object (group, dataset, named datatype) by a name relative to `location`.
    static func openObject(_ location: borrowing HDF5Handle, _ name: String) throws(GraftError) -> HDF5Handle {
      serial.lock()
      defer { serial.unlock() }
      // Producers call this first on whatever thread reads a tensor.
      graft_h5_silence()
      return try owned(H5Oopen(location.id, name, graft_h5p_default()), .object, "H5Oopen('\(name)')")
    }

    /// What an open object is.
    enum ObjectKind { case group, dataset, namedDatatype, other }

    static func kind(of object: borrowing HDF5Handle) -> ObjectKind {
      serial.lock()
      defer { serial.unlock() }
      switch H5Iget_type(object.id) {
      case H5I_GROUP: return .group
      case H5I_DATASET: return .dataset
      case H5I_DATATYPE: return .namedDatatype
      default: return .other
      }
    }

    /// The number of links in a group.
    static func linkCount(_ group: borrowing HDF5Handle) throws(GraftError) -> Int {
      serial.lock()
      defer { serial.unlock() }
      var info = H5G_info_t()
      try check(H5Gget_info(group.id, &info), "H5Gget_info")
      return Int(info.nlinks)
    }

    /// Whether a group (or the root, through the file creation list) records link creation order.
    static func tracksCreationOrder(_ group: borrowing HDF5Handle) -> Bool {
      serial.lock()
      defer { serial.unlock() }
      let gcpl = H5Gget_create_plist(group.id)
      guard gcpl >= 0 else {
        H5Eclear2(graft_h5e_default())
        return false
      }
      defer { _ = H5Pclose(gcpl) }
      var flags: UInt32 = 0
      guard H5Pget_link_creation_order(gcpl, &flags) >= 0 else { return false }
      return flags & graft_h5p_crt_order_tracked() != 0
    }

    /// The name of the `index`-th link, by creation order or by name.
    static func linkName(
      _ group: borrowing HDF5Handle, at index: Int, byCreationOrder: Bool
    ) throws(GraftError)
      -> String
    {
      serial.lock()
      defer { serial.unlock() }
      let order = byCreationOrder ? H5_INDEX_CRT_ORDER : H5_INDEX_NAME
      let id = group.id
      return try name("H5Lget_name_by_idx") { buffer, size in
        H5Lget_name_by_idx(id, ".", order, H5_ITER_INC, hsize_t(index), buffer, size, graft_h5p_default())
      }
    }

    /// A name from one of libhdf5's `get_name` calls, which return the length when given no buffer: asked twice,
    /// for the length and then for the bytes.
    static func name(
      _ operation: String, _ call: (_ buffer: UnsafeMutablePointer<CChar>?, _ size: Int) -> Int
    ) throws(GraftError) -> String {
      serial.lock()
      defer { serial.unlock() }
      let length = call(nil, 0)
      guard length >= 0 else { throw failure(operation) }
      var buffer = [CChar](repeating: 0, count: length + 1)
      let written = buffer.withUnsafeMutableBufferPointer { call($0.baseAddress, $0.count) }
      guard written >= 0 else { throw failure(operation) }
      return String(decoding: buffer.prefix(written).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// How a link is stored.
    enum LinkKind { case hard, soft, external, userDefined }

    static func linkKind(_ group: borrowing HDF5Handle, _ name: String) throws(GraftError) -> LinkKind {
      serial.lock()
      defer { serial.unlock() }
      let type = graft_h5_link_type(group.id, name)
      guard type >= 0 else { throw failure("H5Lget_info('\(name)')") }
      switch type {
      case Int32(H5L_TYPE_HARD.rawValue): return .hard
      case Int32(H5L_TYPE_SOFT.rawValue): return .soft
      case Int32(H5L_TYPE_EXTERNAL.rawValue): return .external
      default: return .userDefined
      }
    }

    /// An identity of the object inside its file (hard links to one object share it) and its attribute count.
    static func objectInfo(_ object: borrowing HDF5Handle) throws(GraftError) -> (identity: UInt64, attributes: Int) {
      serial.lock()
      defer { serial.unlock() }
      var identity: UInt64 = 0
      var count: Int64 = 0
      guard graft_h5_object_info(object.id, &identity, &count) >= 0 else { throw failure("H5Oget_info") }
      return (identity, Int(count))
    }

    /// Creates a group that tracks link creation order.
    static func createGroup(_ location: borrowing HDF5Handle, _ name: String) throws(GraftError) -> HDF5Handle {
      serial.lock()
      defer { serial.unlock() }
      let gcpl = try owned(H5Pcreate(graft_h5p_group_create()), .propertyList, "H5Pcreate(group create)")
      let order = graft_h5p_crt_order_tracked() | graft_h5p_crt_order_indexed()
      try check(H5Pset_link_creation_order(gcpl.id, order), "H5Pset_link_creation_order")
      try untrackTimes(gcpl)
      return try owned(
        H5Gcreate2(location.id, name, graft_h5p_default(), gcpl.id, graft_h5p_default()), .object,
        "H5Gcreate2('\(name)')")
    }

    /// Whether `location` has a link called `name` (a single path component).
    static func linkExists(_ location: borrowing HDF5Handle, _ name: String) -> Bool {
      serial.lock()
      defer { serial.unlock() }
      let result = H5Lexists(location.id, name, graft_h5p_default())
      if result < 0 { H5Eclear2(graft_h5e_default()) }
      return result > 0
    }

    /// Adds a second name for an existing object.
    static func createHardLink(
      _ file: borrowing HDF5Handle, existing: String, newLocation: borrowing HDF5Handle, newName: String
    ) throws(GraftError) {
      serial.lock()
      defer { serial.unlock() }
      try check(
        H5Lcreate_hard(file.id, existing, newLocation.id, newName, graft_h5p_default(), graft_h5p_default()),
        "H5Lcreate_hard('\(existing)' -> '\(newName)')")
    }
  }
#endif
