#if HDF5
  internal import CHDF5
  import GraftCore

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

  extension HDF5Library {
    // MARK: - Attributes

    /// The name of the `index`-th attribute of an object, in name order.
    static func attributeName(_ object: borrowing HDF5Handle, at index: Int) throws(GraftError) -> String {
      serial.lock()
      defer { serial.unlock() }
      let id = object.id
      return try name("H5Aget_name_by_idx") { buffer, size in
        H5Aget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, hsize_t(index), buffer, size, graft_h5p_default())
      }
    }

    /// Whether an object has an attribute.
    static func hasAttribute(_ object: borrowing HDF5Handle, _ name: String) -> Bool {
      serial.lock()
      defer { serial.unlock() }
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
      serial.lock()
      defer { serial.unlock() }
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
      serial.lock()
      defer { serial.unlock() }
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
  }
#endif
