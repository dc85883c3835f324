#if HDF5
  internal import CHDF5
  import GraftCore

  /// The frames of libhdf5's error stack at a failure, innermost first.
  public struct HDF5ErrorStack: Error, Sendable, CustomStringConvertible {
    /// `function: description` per frame, innermost first.
    public var frames: [String]

    /// The distinct descriptions, innermost first, on one line.
    public var description: String {
      var seen = Set<String>()
      var parts: [String] = []
      for frame in frames {
        let text = HDF5ErrorStack.reason(of: frame)
        if seen.insert(text).inserted { parts.append(text) }
      }
      return "libhdf5: " + parts.prefix(3).joined(separator: " <- ")
    }

    /// The description part of a `function: description` frame.
    static func reason(of frame: String) -> String {
      guard let colon = frame.firstIndex(of: ":") else { return frame }
      let text = frame[frame.index(after: colon)...].trimmingLeadingSpaces()
      return systemReason(in: text) ?? text
    }

    /// libhdf5's file driver reports a failed system call as one long line (time, temporary file name, buffer
    /// address, byte counts, `errno = 28, error message = 'No space left on device'`); only the last part helps.
    static func systemReason(in text: String) -> String? {
      guard let start = text.firstRange(of: "error message = '"),
        let end = text[start.upperBound...].firstIndex(of: "'")
      else { return nil }
      let operation = text.prefix { $0 != ":" }
      var errnoText = ""
      if let e = text.firstRange(of: "errno = ") {
        errnoText = " (errno " + text[e.upperBound...].prefix { $0.isNumber } + ")"
      }
      return operation + ": " + text[start.upperBound..<end] + errnoText
    }
  }

  extension Substring {
    fileprivate func trimmingLeadingSpaces() -> String { String(drop(while: { $0 == " " })) }
  }

  /// A value read from an HDF5 attribute, before it becomes JSON.
  enum HDF5AttributeValue {
    case strings([String], scalar: Bool)
    case integers([Int64], scalar: Bool)
    case unsignedIntegers([UInt64], scalar: Bool)
    case doubles([Double], scalar: Bool)
    case booleans([Bool], scalar: Bool)
    case unsupported(String)
  }

  /// A value to write as an HDF5 attribute.
  enum HDF5AttributeInput {
    /// Variable-length UTF-8 strings (what h5py writes for Python `str`).
    case strings([String], scalar: Bool)
    /// Fixed-length, NUL-padded byte strings (what h5py writes for a NumPy `S` array, as Keras does).
    case fixedStrings([String], scalar: Bool)
    case integers([Int64], scalar: Bool)
    case doubles([Double], scalar: Bool)
    case booleans([Bool], scalar: Bool)
  }

  /// The only place that calls libhdf5.
  ///
  /// Every failure is turned into a ``GraftError`` carrying libhdf5's error stack (which is never printed), so the
  /// layers above add the file and tensor and nothing else.
  enum HDF5Library {
    private static let initialized: Bool = graft_h5_initialize() == 0

    /// Opens the library once and silences its stderr error printing on the calling thread.
    static func initialize() throws(GraftError) {
      guard initialized else { throw failure("H5open", code: .io) }
      graft_h5_silence()
    }

    /// The linked library's version, such as `1.10.8`.
    static var version: String? {
      // H5get_libversion opens the library too: it must not be the first call (see graft_h5_initialize).
      guard initialized else { return nil }
      var major: UInt32 = 0
      var minor: UInt32 = 0
      var release: UInt32 = 0
      guard H5get_libversion(&major, &minor, &release) >= 0 else { return nil }
      return "\(major).\(minor).\(release)"
    }

    /// An error for a failed call, carrying and clearing the thread's error stack.
    static func failure(_ operation: String, code: GraftError.Code? = nil) -> GraftError {
      var buffer = [CChar](repeating: 0, count: 8192)
      let length = buffer.withUnsafeMutableBufferPointer { p -> Int in
        guard let base = p.baseAddress else { return 0 }
        return graft_h5_take_error_stack(base, p.count)
      }
      let bytes = buffer.prefix(length).map { UInt8(bitPattern: $0) }
      let frames = bytes.split(separator: 0x1F).map { String(decoding: $0, as: UTF8.self) }
      let stack = HDF5ErrorStack(frames: frames)
      let innermost = frames.first.map { HDF5ErrorStack.reason(of: $0) } ?? "no reason given"
      let all = frames.joined(separator: " ").lowercased()
      let resolved: GraftError.Code
      if let code {
        resolved = code
      } else if all.contains("truncated") {
        resolved = .truncated
      } else if all.contains("signature") {
        resolved = .unrecognizedFormat
      } else {
        resolved = .invalidHeader
      }
      return GraftError(resolved, "\(operation) failed: \(innermost)", cause: stack)
    }

    static func close(_ id: hid_t, _ kind: HDF5Handle.Kind) {
      guard id >= 0 else { return }
      switch kind {
      case .file: _ = H5Fclose(id)
      case .object: _ = H5Oclose(id)
      case .dataspace: _ = H5Sclose(id)
      case .datatype: _ = H5Tclose(id)
      case .attribute: _ = H5Aclose(id)
      case .propertyList: _ = H5Pclose(id)
      }
      H5Eclear2(graft_h5e_default())
    }

    private static func owned(
      _ id: hid_t, _ kind: HDF5Handle.Kind, _ operation: @autoclosure () -> String
    )
      throws(GraftError) -> HDF5Handle
    {
      guard id >= 0 else { throw failure(operation()) }
      return HDF5Handle(id, kind)
    }

    private static func check(_ status: herr_t, _ operation: @autoclosure () -> String) throws(GraftError) {
      guard status >= 0 else { throw failure(operation()) }
    }

    // MARK: - Files

    /// Opens a file read-only.
    static func openFile(_ path: String) throws(GraftError) -> HDF5Handle {
      try initialize()
      return try owned(H5Fopen(path, graft_h5f_acc_rdonly(), graft_h5p_default()), .file, "H5Fopen")
    }

    /// Creates a new file (refusing to replace one) whose root group tracks link creation order.
    static func createFile(_ path: String) throws(GraftError) -> HDF5Handle {
      try initialize()
      let fcpl = try owned(H5Pcreate(graft_h5p_file_create()), .propertyList, "H5Pcreate(file create)")
      let order = graft_h5p_crt_order_tracked() | graft_h5p_crt_order_indexed()
      try check(H5Pset_link_creation_order(fcpl.id, order), "H5Pset_link_creation_order")
      try check(H5Pset_attr_creation_order(fcpl.id, order), "H5Pset_attr_creation_order")
      try untrackTimes(fcpl)
      let fapl = try owned(H5Pcreate(graft_h5p_file_access()), .propertyList, "H5Pcreate(file access)")
      // v1.8 object formats: readable by every libhdf5 since 2008, and needed for creation order and big attributes.
      try check(H5Pset_libver_bounds(fapl.id, H5F_LIBVER_V18, H5F_LIBVER_V18), "H5Pset_libver_bounds")
      return try owned(H5Fcreate(path, graft_h5f_acc_excl(), fcpl.id, fapl.id), .file, "H5Fcreate")
    }

    /// Leaves access/modification/change/birth times out of object headers: the same table must give the same bytes.
    private static func untrackTimes(_ plist: borrowing HDF5Handle) throws(GraftError) {
      try check(H5Pset_obj_track_times(plist.id, false), "H5Pset_obj_track_times")
    }

    /// Flushes a file before its handle closes it, reporting failures that a plain close would swallow.
    static func closeFile(_ file: borrowing HDF5Handle) throws(GraftError) {
      let status = H5Fflush(file.id, H5F_SCOPE_LOCAL)
      guard status >= 0 else { throw failure("H5Fflush", code: .io) }
    }

    // MARK: - Groups and links

    /// Opens any object (group, dataset, named datatype) by a name relative to `location`.
    static func openObject(_ location: borrowing HDF5Handle, _ name: String) throws(GraftError) -> HDF5Handle {
      // Producers call this first on whatever thread reads a tensor.
      graft_h5_silence()
      return try owned(H5Oopen(location.id, name, graft_h5p_default()), .object, "H5Oopen('\(name)')")
    }

    /// What an open object is.
    enum ObjectKind { case group, dataset, namedDatatype, other }

    static func kind(of object: borrowing HDF5Handle) -> ObjectKind {
      switch H5Iget_type(object.id) {
      case H5I_GROUP: return .group
      case H5I_DATASET: return .dataset
      case H5I_DATATYPE: return .namedDatatype
      default: return .other
      }
    }

    /// The number of links in a group.
    static func linkCount(_ group: borrowing HDF5Handle) throws(GraftError) -> Int {
      var info = H5G_info_t()
      try check(H5Gget_info(group.id, &info), "H5Gget_info")
      return Int(info.nlinks)
    }

    /// Whether a group (or the root, through the file creation list) records link creation order.
    static func tracksCreationOrder(_ group: borrowing HDF5Handle) -> Bool {
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
      let order = byCreationOrder ? H5_INDEX_CRT_ORDER : H5_INDEX_NAME
      let length = H5Lget_name_by_idx(group.id, ".", order, H5_ITER_INC, hsize_t(index), nil, 0, graft_h5p_default())
      guard length >= 0 else { throw failure("H5Lget_name_by_idx") }
      var buffer = [CChar](repeating: 0, count: Int(length) + 1)
      let written = H5Lget_name_by_idx(
        group.id, ".", order, H5_ITER_INC, hsize_t(index), &buffer, buffer.count, graft_h5p_default())
      guard written >= 0 else { throw failure("H5Lget_name_by_idx") }
      return String(decoding: buffer.prefix(Int(written)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// How a link is stored.
    enum LinkKind { case hard, soft, external, userDefined }

    static func linkKind(_ group: borrowing HDF5Handle, _ name: String) throws(GraftError) -> LinkKind {
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
      var identity: UInt64 = 0
      var count: Int64 = 0
      guard graft_h5_object_info(object.id, &identity, &count) >= 0 else { throw failure("H5Oget_info") }
      return (identity, Int(count))
    }

    /// Creates a group that tracks link creation order.
    static func createGroup(_ location: borrowing HDF5Handle, _ name: String) throws(GraftError) -> HDF5Handle {
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
      let result = H5Lexists(location.id, name, graft_h5p_default())
      if result < 0 { H5Eclear2(graft_h5e_default()) }
      return result > 0
    }

    /// Adds a second name for an existing object.
    static func createHardLink(
      _ file: borrowing HDF5Handle, existing: String, newLocation: borrowing HDF5Handle, newName: String
    ) throws(GraftError) {
      try check(
        H5Lcreate_hard(file.id, existing, newLocation.id, newName, graft_h5p_default(), graft_h5p_default()),
        "H5Lcreate_hard('\(existing)' -> '\(newName)')")
    }

    // MARK: - Datasets: shape, type, storage

    /// The dimensions of a dataset or attribute dataspace; `[]` for a scalar, `nil` for a null dataspace.
    static func dimensions(ofSpace space: borrowing HDF5Handle) throws(GraftError) -> [Int]? {
      let type = H5Sget_simple_extent_type(space.id)
      if type == H5S_NULL { return nil }
      if type == H5S_SCALAR { return [] }
      let rank = H5Sget_simple_extent_ndims(space.id)
      guard rank >= 0 else { throw failure("H5Sget_simple_extent_ndims") }
      var dims = [hsize_t](repeating: 0, count: Int(rank))
      guard H5Sget_simple_extent_dims(space.id, &dims, nil) >= 0 else { throw failure("H5Sget_simple_extent_dims") }
      var result: [Int] = []
      for d in dims {
        guard d <= hsize_t(Int.max) else { throw GraftError(.overflow, "a dimension of \(d) does not fit in Int") }
        result.append(Int(d))
      }
      return result
    }

    static func datasetSpace(_ dataset: borrowing HDF5Handle) throws(GraftError) -> HDF5Handle {
      try owned(H5Dget_space(dataset.id), .dataspace, "H5Dget_space")
    }

    static func datasetType(_ dataset: borrowing HDF5Handle) throws(GraftError) -> HDF5Handle {
      try owned(H5Dget_type(dataset.id), .datatype, "H5Dget_type")
    }

    /// How a dataset's bytes are stored.
    struct Storage {
      var layout: String
      var filters: [String]
      var externalFiles: Int
      /// The file offset of contiguous, allocated data.
      var offset: Int?
      var storedBytes: Int
    }

    static func storage(of dataset: borrowing HDF5Handle) throws(GraftError) -> Storage {
      let dcpl = try owned(H5Dget_create_plist(dataset.id), .propertyList, "H5Dget_create_plist")
      let layout = H5Pget_layout(dcpl.id)
      let layoutName: String
      switch layout {
      case H5D_CONTIGUOUS: layoutName = "contiguous"
      case H5D_CHUNKED: layoutName = "chunked"
      case H5D_COMPACT: layoutName = "compact"
      case H5D_VIRTUAL: layoutName = "virtual"
      default: layoutName = "unknown"
      }
      var filters: [String] = []
      let filterCount = H5Pget_nfilters(dcpl.id)
      if filterCount > 0 {
        for i in 0..<filterCount {
          var flags: UInt32 = 0
          var values = 0
          var name = [CChar](repeating: 0, count: 64)
          var config: UInt32 = 0
          let id = H5Pget_filter2(dcpl.id, UInt32(i), &flags, &values, nil, name.count, &name, &config)
          let text = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
          filters.append(text.isEmpty ? "filter \(id)" : text)
        }
      }
      let external = H5Pget_external_count(dcpl.id)
      var offset: Int?
      if layout == H5D_CONTIGUOUS {
        let address = H5Dget_offset(dataset.id)
        if graft_haddr_is_undef(address) == 0, address <= haddr_t(Int.max) { offset = Int(address) }
        H5Eclear2(graft_h5e_default())
      }
      let stored = H5Dget_storage_size(dataset.id)
      return Storage(
        layout: layoutName, filters: filters, externalFiles: Int(max(external, 0)), offset: offset,
        storedBytes: stored > hsize_t(Int.max) ? Int.max : Int(stored))
    }

    // MARK: - Datatypes

    /// What Graft needs to know about a datatype to map it to a dtype.
    struct TypeInfo {
      enum Class { case integer, float, string, opaque, enumeration, compound, other(String) }
      var typeClass: Class
      var size: Int
      var bigEndian: Bool
      var signed: Bool
      /// Sign position, exponent position and size, mantissa position and size; floats only.
      var fields: (sign: Int, exponentPosition: Int, exponentSize: Int, mantissaPosition: Int, mantissaSize: Int)
      var exponentBias: Int
      var tag: String?
      /// Member names and types, for compounds and enums (enum values are not needed).
      var members: [Member]

      /// A compound or enum member.
      struct Member {
        var name: String
        // An array, because a struct cannot hold an optional of itself.
        private var storage: [TypeInfo]
        var info: TypeInfo? { storage.first }

        init(name: String, info: TypeInfo?) {
          self.name = name
          self.storage = info.map { [$0] } ?? []
        }
      }
    }

    static func typeInfo(_ type: borrowing HDF5Handle) throws(GraftError) -> TypeInfo {
      try typeInfo(id: type.id)
    }

    private static func typeInfo(id: hid_t) throws(GraftError) -> TypeInfo {
      let cls = H5Tget_class(id)
      let size = H5Tget_size(id)
      var info = TypeInfo(
        typeClass: .other("unknown"), size: Int(size), bigEndian: H5Tget_order(id) == H5T_ORDER_BE,
        signed: false, fields: (0, 0, 0, 0, 0), exponentBias: 0, tag: nil, members: [])
      switch cls {
      case H5T_INTEGER:
        info.typeClass = .integer
        info.signed = H5Tget_sign(id) == H5T_SGN_2
      case H5T_FLOAT:
        info.typeClass = .float
        var s = 0
        var ep = 0
        var es = 0
        var mp = 0
        var ms = 0
        try check(H5Tget_fields(id, &s, &ep, &es, &mp, &ms), "H5Tget_fields")
        info.fields = (s, ep, es, mp, ms)
        info.exponentBias = Int(H5Tget_ebias(id))
      case H5T_STRING: info.typeClass = .string
      case H5T_OPAQUE:
        info.typeClass = .opaque
        if let tag = H5Tget_tag(id) {
          info.tag = String(cString: tag)
          H5free_memory(tag)
        }
      case H5T_ENUM, H5T_COMPOUND:
        info.typeClass = cls == H5T_ENUM ? .enumeration : .compound
        if cls == H5T_ENUM {
          let base = H5Tget_super(id)
          if base >= 0 {
            defer { _ = H5Tclose(base) }
            info.signed = H5Tget_sign(base) == H5T_SGN_2
          }
        }
        let count = H5Tget_nmembers(id)
        if count > 0 {
          for m in 0..<UInt32(count) {
            guard let raw = H5Tget_member_name(id, m) else { continue }
            let name = String(cString: raw)
            H5free_memory(raw)
            if cls == H5T_COMPOUND {
              let memberType = H5Tget_member_type(id, m)
              guard memberType >= 0 else { throw failure("H5Tget_member_type") }
              defer { _ = H5Tclose(memberType) }
              info.members.append(TypeInfo.Member(name: name, info: try typeInfo(id: memberType)))
            } else {
              info.members.append(TypeInfo.Member(name: name, info: nil))
            }
          }
        }
      case H5T_TIME: info.typeClass = .other("time")
      case H5T_BITFIELD: info.typeClass = .other("bitfield")
      case H5T_REFERENCE: info.typeClass = .other("reference")
      case H5T_VLEN: info.typeClass = .other("variable-length sequence")
      case H5T_ARRAY: info.typeClass = .other("array")
      default: throw failure("H5Tget_class")
      }
      return info
    }

    /// A little-endian datatype for a dtype: predefined IEEE/integer types, h5py's custom float for f16, h5py's enum
    /// for bool, compound `{r, i}` for complex, and an untagged opaque type of the element size for the rest.
    ///
    /// bf16 and fp8 are opaque because that is what h5py makes of ml_dtypes' types and what Keras reads back: Keras
    /// reads into an ml_dtypes array, and libhdf5 has no conversion from a custom bf16 float to opaque.
    ///
    /// With `bfloat16AsFloat`, bf16 is instead a custom float `(15, 7, 8, 0, 7)` with bias 127, which h5py widens to
    /// float32: the only form Keras' legacy `.h5` loader can read (it fails on opaque data with "Invalid dtype").
    static func makeType(for dtype: DType, bfloat16AsFloat: Bool = false) throws(GraftError) -> HDF5Handle {
      func copy(_ id: hid_t) throws(GraftError) -> HDF5Handle { try owned(H5Tcopy(id), .datatype, "H5Tcopy") }
      switch dtype {
      case .float32: return try copy(graft_h5t_ieee_f32le())
      case .float64: return try copy(graft_h5t_ieee_f64le())
      case .int8: return try copy(graft_h5t_std_i8le())
      case .int16: return try copy(graft_h5t_std_i16le())
      case .int32: return try copy(graft_h5t_std_i32le())
      case .int64: return try copy(graft_h5t_std_i64le())
      case .uint8: return try copy(graft_h5t_std_u8le())
      case .uint16: return try copy(graft_h5t_std_u16le())
      case .uint32: return try copy(graft_h5t_std_u32le())
      case .uint64: return try copy(graft_h5t_std_u64le())
      case .float16:
        // The construction h5py uses for float16 before HDF5 1.14.4.
        let type = try copy(graft_h5t_ieee_f32le())
        try check(H5Tset_fields(type.id, 15, 10, 5, 0, 10), "H5Tset_fields")
        try check(H5Tset_size(type.id, 2), "H5Tset_size")
        try check(H5Tset_ebias(type.id, 15), "H5Tset_ebias")
        return type
      case .bfloat16 where bfloat16AsFloat:
        let type = try copy(graft_h5t_ieee_f32le())
        try check(H5Tset_fields(type.id, 15, 7, 8, 0, 7), "H5Tset_fields")
        try check(H5Tset_size(type.id, 2), "H5Tset_size")
        try check(H5Tset_ebias(type.id, 127), "H5Tset_ebias")
        return type
      case .bool:
        let type = try owned(H5Tenum_create(graft_h5t_native_int8()), .datatype, "H5Tenum_create")
        var no: Int8 = 0
        var yes: Int8 = 1
        try check(H5Tenum_insert(type.id, "FALSE", &no), "H5Tenum_insert")
        try check(H5Tenum_insert(type.id, "TRUE", &yes), "H5Tenum_insert")
        return type
      case .complex64, .complex128:
        let part = dtype == .complex64 ? graft_h5t_ieee_f32le() : graft_h5t_ieee_f64le()
        let half = dtype == .complex64 ? 4 : 8
        let type = try owned(H5Tcreate(H5T_COMPOUND, 2 * half), .datatype, "H5Tcreate(compound)")
        try check(H5Tinsert(type.id, "r", 0, part), "H5Tinsert")
        try check(H5Tinsert(type.id, "i", half, part), "H5Tinsert")
        return type
      default:
        return try owned(H5Tcreate(H5T_OPAQUE, dtype.byteWidth ?? 1), .datatype, "H5Tcreate(opaque)")
      }
    }

    // MARK: - Dataset IO

    /// Reads rows `rows` of the leading dimension (the whole dataset for scalars) with `type` as the memory type, so
    /// libhdf5 converts nothing.
    static func readRows(
      _ dataset: borrowing HDF5Handle, type: borrowing HDF5Handle, dims: [Int], rows: Range<Int>,
      into buffer: UnsafeMutableRawBufferPointer
    ) throws(GraftError) {
      guard let base = buffer.baseAddress else { return }
      if dims.isEmpty {
        try check(
          H5Dread(dataset.id, type.id, graft_h5s_all(), graft_h5s_all(), graft_h5p_default(), base), "H5Dread")
        return
      }
      let selected = try selection(dataset: dataset, dims: dims, rows: rows)
      try check(
        H5Dread(dataset.id, type.id, selected.memory.id, selected.file.id, graft_h5p_default(), base), "H5Dread")
    }

    /// Writes rows `rows` of the leading dimension (everything for scalars) from `bytes`, memory type == file type.
    static func writeRows(
      _ dataset: borrowing HDF5Handle, type: borrowing HDF5Handle, dims: [Int], rows: Range<Int>,
      from bytes: UnsafeRawBufferPointer
    ) throws(GraftError) {
      guard let base = bytes.baseAddress else { return }
      if dims.isEmpty {
        try check(
          H5Dwrite(dataset.id, type.id, graft_h5s_all(), graft_h5s_all(), graft_h5p_default(), base), "H5Dwrite")
        return
      }
      let selected = try selection(dataset: dataset, dims: dims, rows: rows)
      try check(
        H5Dwrite(dataset.id, type.id, selected.memory.id, selected.file.id, graft_h5p_default(), base), "H5Dwrite")
    }

    /// A file selection and the matching one-dimensional memory space.
    private struct Selection: ~Copyable {
      let memory: HDF5Handle
      let file: HDF5Handle
    }

    private static func selection(
      dataset: borrowing HDF5Handle, dims: [Int], rows: Range<Int>
    ) throws(GraftError)
      -> Selection
    {
      let file = try datasetSpace(dataset)
      var start = [hsize_t](repeating: 0, count: dims.count)
      var count = dims.map { hsize_t($0) }
      start[0] = hsize_t(rows.lowerBound)
      count[0] = hsize_t(rows.count)
      try check(H5Sselect_hyperslab(file.id, H5S_SELECT_SET, start, nil, count, nil), "H5Sselect_hyperslab")
      var flat = [hsize_t(count.reduce(1, *))]
      let memory = try owned(H5Screate_simple(1, &flat, nil), .dataspace, "H5Screate_simple")
      return Selection(memory: memory, file: file)
    }

    /// Creates a dataset: contiguous with early allocation and no fill (so it can be mapped back), or chunked with
    /// shuffle + deflate.
    static func createDataset(
      _ location: borrowing HDF5Handle, _ name: String, type: borrowing HDF5Handle, dims: [Int], chunk: [Int]?
    ) throws(GraftError) -> HDF5Handle {
      let space: HDF5Handle
      if dims.isEmpty {
        space = try owned(H5Screate(H5S_SCALAR), .dataspace, "H5Screate")
      } else {
        var d = dims.map { hsize_t($0) }
        space = try owned(H5Screate_simple(Int32(dims.count), &d, nil), .dataspace, "H5Screate_simple")
      }
      let dcpl = try owned(H5Pcreate(graft_h5p_dataset_create()), .propertyList, "H5Pcreate(dataset create)")
      try untrackTimes(dcpl)
      if let chunk, !dims.isEmpty {
        var c = chunk.map { hsize_t($0) }
        try check(H5Pset_chunk(dcpl.id, Int32(c.count), &c), "H5Pset_chunk")
        try check(H5Pset_shuffle(dcpl.id), "H5Pset_shuffle")
        try check(H5Pset_deflate(dcpl.id, 4), "H5Pset_deflate")
      } else {
        try check(H5Pset_layout(dcpl.id, H5D_CONTIGUOUS), "H5Pset_layout")
        try check(H5Pset_alloc_time(dcpl.id, H5D_ALLOC_TIME_EARLY), "H5Pset_alloc_time")
        try check(H5Pset_fill_time(dcpl.id, H5D_FILL_TIME_NEVER), "H5Pset_fill_time")
      }
      return try owned(
        H5Dcreate2(location.id, name, type.id, space.id, graft_h5p_default(), dcpl.id, graft_h5p_default()),
        .object, "H5Dcreate2('\(name)')")
    }

    // MARK: - Attributes

    /// The name of the `index`-th attribute of an object, in name order.
    static func attributeName(_ object: borrowing HDF5Handle, at index: Int) throws(GraftError) -> String {
      let length = H5Aget_name_by_idx(
        object.id, ".", H5_INDEX_NAME, H5_ITER_INC, hsize_t(index), nil, 0, graft_h5p_default())
      guard length >= 0 else { throw failure("H5Aget_name_by_idx") }
      var buffer = [CChar](repeating: 0, count: Int(length) + 1)
      let written = H5Aget_name_by_idx(
        object.id, ".", H5_INDEX_NAME, H5_ITER_INC, hsize_t(index), &buffer, buffer.count, graft_h5p_default())
      guard written >= 0 else { throw failure("H5Aget_name_by_idx") }
      return String(decoding: buffer.prefix(Int(written)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Whether an object has an attribute.
    static func hasAttribute(_ object: borrowing HDF5Handle, _ name: String) -> Bool {
      let result = H5Aexists(object.id, name)
      if result < 0 { H5Eclear2(graft_h5e_default()) }
      return result > 0
    }

    /// Reads an attribute, converting numbers only by widening (to Int64, UInt64 or Double).
    static func readAttribute(
      _ object: borrowing HDF5Handle, _ name: String, limits: HDF5Checkpoint.Limits = .init()
    ) throws(GraftError)
      -> HDF5AttributeValue
    {
      let attribute = try owned(H5Aopen(object.id, name, graft_h5p_default()), .attribute, "H5Aopen('\(name)')")
      let type = try owned(H5Aget_type(attribute.id), .datatype, "H5Aget_type")
      let space = try owned(H5Aget_space(attribute.id), .dataspace, "H5Aget_space")
      guard let dims = try dimensions(ofSpace: space) else { return .strings([], scalar: false) }
      let scalar = dims.isEmpty
      guard let count = Checked.product(dims), count <= limits.maxAttributeElements else {
        throw GraftError(
          .limitExceeded, "attribute '\(name)' has \(dims) elements; the cap is \(limits.maxAttributeElements)")
      }
      let info = try typeInfo(type)
      switch info.typeClass {
      case .string:
        if H5Tis_variable_str(type.id) > 0 {
          let memory = try owned(H5Tcopy(graft_h5t_c_s1()), .datatype, "H5Tcopy")
          try check(H5Tset_size(memory.id, graft_h5t_variable()), "H5Tset_size")
          try check(H5Tset_cset(memory.id, H5Tget_cset(type.id)), "H5Tset_cset")
          var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: max(count, 1))
          try check(H5Aread(attribute.id, memory.id, &pointers), "H5Aread('\(name)')")
          let strings = pointers.prefix(count).map { $0.map { String(cString: $0) } ?? "" }
          _ = graft_h5_reclaim(memory.id, space.id, &pointers)
          return .strings(strings, scalar: scalar)
        }
        let size = info.size
        guard let total = Checked.multiply(size, count), total <= limits.maxAttributeBytes else {
          throw GraftError(
            .limitExceeded,
            "attribute '\(name)' holds \(count) strings of \(size) bytes; the cap is \(limits.maxAttributeBytes) bytes")
        }
        var bytes = [UInt8](repeating: 0, count: max(total, 1))
        try check(H5Aread(attribute.id, type.id, &bytes), "H5Aread('\(name)')")
        let spacePadded = H5Tget_strpad(type.id) == H5T_STR_SPACEPAD
        var strings: [String] = []
        for i in 0..<count {
          var piece = bytes[(i * size)..<((i + 1) * size)]
          if let nul = piece.firstIndex(of: 0) { piece = piece[..<nul] }
          if spacePadded { while piece.last == 0x20 { piece = piece.dropLast() } }
          strings.append(String(decoding: piece, as: UTF8.self))
        }
        return .strings(strings, scalar: scalar)
      case .integer:
        if !info.signed && info.size == 8 {
          var values = [UInt64](repeating: 0, count: max(count, 1))
          try check(H5Aread(attribute.id, graft_h5t_native_uint64(), &values), "H5Aread('\(name)')")
          return .unsignedIntegers(Array(values.prefix(count)), scalar: scalar)
        }
        var values = [Int64](repeating: 0, count: max(count, 1))
        try check(H5Aread(attribute.id, graft_h5t_native_int64(), &values), "H5Aread('\(name)')")
        return .integers(Array(values.prefix(count)), scalar: scalar)
      case .float:
        var values = [Double](repeating: 0, count: max(count, 1))
        try check(H5Aread(attribute.id, graft_h5t_native_double(), &values), "H5Aread('\(name)')")
        return .doubles(Array(values.prefix(count)), scalar: scalar)
      case .enumeration where info.size == 1 && info.members.map(\.name) == ["FALSE", "TRUE"]:
        var bytes = [UInt8](repeating: 0, count: max(count, 1))
        try check(H5Aread(attribute.id, type.id, &bytes), "H5Aread('\(name)')")
        return .booleans(bytes.prefix(count).map { $0 != 0 }, scalar: scalar)
      default:
        return .unsupported(describe(info))
      }
    }

    /// Creates (or replaces) an attribute.
    static func writeAttribute(
      _ object: borrowing HDF5Handle, _ name: String, _ value: HDF5AttributeInput
    )
      throws(GraftError)
    {
      if hasAttribute(object, name) { try check(H5Adelete(object.id, name), "H5Adelete('\(name)')") }
      func space(_ count: Int, scalar: Bool) throws(GraftError) -> HDF5Handle {
        if scalar { return try owned(H5Screate(H5S_SCALAR), .dataspace, "H5Screate") }
        var d = [hsize_t(count)]
        return try owned(H5Screate_simple(1, &d, nil), .dataspace, "H5Screate_simple")
      }
      func create(_ type: borrowing HDF5Handle, _ space: borrowing HDF5Handle) throws(GraftError) -> HDF5Handle {
        try owned(
          H5Acreate2(object.id, name, type.id, space.id, graft_h5p_default(), graft_h5p_default()), .attribute,
          "H5Acreate2('\(name)')")
      }
      switch value {
      case .strings(let strings, let scalar):
        let type = try owned(H5Tcopy(graft_h5t_c_s1()), .datatype, "H5Tcopy")
        try check(H5Tset_size(type.id, graft_h5t_variable()), "H5Tset_size")
        try check(H5Tset_cset(type.id, H5T_CSET_UTF8), "H5Tset_cset")
        let s = try space(strings.count, scalar: scalar)
        let attribute = try create(type, s)
        var copies: [UnsafeMutablePointer<CChar>?] = strings.map { s in
          let utf8 = Array(s.utf8CString)
          let p = UnsafeMutablePointer<CChar>.allocate(capacity: utf8.count)
          p.initialize(from: utf8, count: utf8.count)
          return p
        }
        if copies.isEmpty { copies = [nil] }
        defer { for p in copies { p?.deallocate() } }
        try check(H5Awrite(attribute.id, type.id, &copies), "H5Awrite('\(name)')")
      case .fixedStrings(let strings, let scalar):
        let width = max(1, strings.map(\.utf8.count).max() ?? 1)
        let type = try owned(H5Tcopy(graft_h5t_c_s1()), .datatype, "H5Tcopy")
        try check(H5Tset_size(type.id, width), "H5Tset_size")
        try check(H5Tset_strpad(type.id, H5T_STR_NULLPAD), "H5Tset_strpad")
        var bytes = [UInt8](repeating: 0, count: max(1, width * strings.count))
        for (i, s) in strings.enumerated() {
          for (j, b) in s.utf8.enumerated() { bytes[i * width + j] = b }
        }
        let sp = try space(strings.count, scalar: scalar && strings.count == 1)
        let attribute = try create(type, sp)
        try check(H5Awrite(attribute.id, type.id, &bytes), "H5Awrite('\(name)')")
      case .integers(var values, let scalar):
        let sp = try space(values.count, scalar: scalar)
        let attribute = try create(try owned(H5Tcopy(graft_h5t_std_i64le()), .datatype, "H5Tcopy"), sp)
        if values.isEmpty { values = [0] }
        try check(H5Awrite(attribute.id, graft_h5t_native_int64(), &values), "H5Awrite('\(name)')")
      case .doubles(var values, let scalar):
        let sp = try space(values.count, scalar: scalar)
        let attribute = try create(try owned(H5Tcopy(graft_h5t_ieee_f64le()), .datatype, "H5Tcopy"), sp)
        if values.isEmpty { values = [0] }
        try check(H5Awrite(attribute.id, graft_h5t_native_double(), &values), "H5Awrite('\(name)')")
      case .booleans(let values, let scalar):
        let type = try makeType(for: .bool)
        let sp = try space(values.count, scalar: scalar)
        let attribute = try create(type, sp)
        var bytes = values.map { $0 ? UInt8(1) : 0 } + [0]
        try check(H5Awrite(attribute.id, type.id, &bytes), "H5Awrite('\(name)')")
      }
    }

    /// A short description of a datatype, for messages and `describe`.
    static func describe(_ info: TypeInfo) -> String {
      let order = info.bigEndian ? "big-endian " : ""
      switch info.typeClass {
      case .integer: return "\(order)\(info.signed ? "" : "unsigned ")\(info.size * 8)-bit integer"
      case .float:
        let f = info.fields
        return "\(order)\(info.size * 8)-bit float (exponent \(f.exponentSize) bits, mantissa \(f.mantissaSize) bits)"
      case .string: return "string"
      case .opaque: return "\(info.size)-byte opaque" + (info.tag.map { $0.isEmpty ? "" : " '\($0)'" } ?? "")
      case .enumeration: return "enum {\(info.members.map(\.name).joined(separator: ", "))}"
      case .compound: return "compound {\(info.members.map(\.name).joined(separator: ", "))}"
      case .other(let name): return name
      }
    }
  }
#endif
