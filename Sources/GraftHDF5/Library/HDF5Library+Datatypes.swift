#if HDF5
  internal import CHDF5
  import GraftCore

  extension HDF5Library {
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

    static func typeInfo(id: hid_t) throws(GraftError) -> TypeInfo {
      serial.lock()
      defer { serial.unlock() }
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
      serial.lock()
      defer { serial.unlock() }
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
