#if HDF5
  internal import CHDF5
  import GraftCore

  extension HDF5Library {
    // MARK: - Datasets: shape, type, storage

    /// The dimensions of a dataset or attribute dataspace; `[]` for a scalar, `nil` for a null dataspace.
    static func dimensions(ofSpace space: borrowing HDF5Handle) throws(GraftError) -> [Int]? {
      serial.lock()
      defer { serial.unlock() }
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
      serial.lock()
      defer { serial.unlock() }
      return try owned(H5Dget_space(dataset.id), .dataspace, "H5Dget_space")
    }

    static func datasetType(_ dataset: borrowing HDF5Handle) throws(GraftError) -> HDF5Handle {
      serial.lock()
      defer { serial.unlock() }
      return try owned(H5Dget_type(dataset.id), .datatype, "H5Dget_type")
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
      serial.lock()
      defer { serial.unlock() }
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

    // MARK: - Dataset IO

    /// Reads rows `rows` of the leading dimension (the whole dataset for scalars) with `type` as the memory type, so
    /// libhdf5 converts nothing.
    static func readRows(
      _ dataset: borrowing HDF5Handle, type: borrowing HDF5Handle, dims: [Int], rows: Range<Int>,
      into buffer: UnsafeMutableRawBufferPointer
    ) throws(GraftError) { try transferRows(dataset, type: type, dims: dims, rows: rows, .read(buffer)) }

    /// Writes rows `rows` of the leading dimension (everything for scalars) from `bytes`, memory type == file type.
    static func writeRows(
      _ dataset: borrowing HDF5Handle, type: borrowing HDF5Handle, dims: [Int], rows: Range<Int>,
      from bytes: UnsafeRawBufferPointer
    ) throws(GraftError) { try transferRows(dataset, type: type, dims: dims, rows: rows, .write(bytes)) }

    /// The direction and buffer of a row transfer.
    enum RowTransfer {
      case read(UnsafeMutableRawBufferPointer)
      case write(UnsafeRawBufferPointer)
    }

    /// Selects the rows (all of a scalar), checks that the buffer holds the selection, then calls H5Dread or
    /// H5Dwrite with the memory and file dataspaces.
    private static func transferRows(
      _ dataset: borrowing HDF5Handle, type: borrowing HDF5Handle, dims: [Int], rows: Range<Int>,
      _ transfer: RowTransfer
    ) throws(GraftError) {
      serial.lock()
      defer { serial.unlock() }
      let (datasetID, typeID) = (dataset.id, type.id)
      let (direction, operation, count) =
        switch transfer {
        case .read(let buffer): ("read", "H5Dread", buffer.count)
        case .write(let buffer): ("write", "H5Dwrite", buffer.count)
        }
      func call(_ memory: hid_t, _ file: hid_t) -> herr_t {
        switch transfer {
        case .read(let buffer):
          guard let base = buffer.baseAddress else { return 0 }
          return H5Dread(datasetID, typeID, memory, file, graft_h5p_default(), base)
        case .write(let buffer):
          guard let base = buffer.baseAddress else { return 0 }
          return H5Dwrite(datasetID, typeID, memory, file, graft_h5p_default(), base)
        }
      }
      if dims.isEmpty {
        let space = try datasetSpace(dataset)
        try checkFits(space, type: type, count: count, direction)
        try check(call(graft_h5s_all(), graft_h5s_all()), operation)
        return
      }
      let selected = try selection(dataset: dataset, dims: dims, rows: rows)
      try checkFits(selected.file, type: type, count: count, direction)
      try check(call(selected.memory.id, selected.file.id), operation)
    }

    /// Refuses a transfer that selects more bytes than the buffer holds: libhdf5 reads or writes `points × element
    /// size` bytes and cannot know the buffer's size.
    static func checkFits(
      _ space: borrowing HDF5Handle, type: borrowing HDF5Handle, count: Int, _ direction: String
    ) throws(GraftError) {
      serial.lock()
      defer { serial.unlock() }
      let points = H5Sget_select_npoints(space.id)
      guard points >= 0 else { throw failure("H5Sget_select_npoints") }
      let size = H5Tget_size(type.id)
      guard size > 0 else { throw failure("H5Tget_size") }
      guard let p = Int(exactly: points), let s = Int(exactly: size), let needed = Checked.multiply(p, s),
        needed <= count
      else {
        throw GraftError(
          .invalidArgument,
          "the \(direction) selects \(points) elements of \(size) bytes, more than the \(count)-byte buffer holds")
      }
    }

    /// A file selection and the matching one-dimensional memory space.
    struct Selection: ~Copyable {
      let memory: HDF5Handle
      let file: HDF5Handle
    }

    static func selection(
      dataset: borrowing HDF5Handle, dims: [Int], rows: Range<Int>
    ) throws(GraftError)
      -> Selection
    {
      serial.lock()
      defer { serial.unlock() }
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
      serial.lock()
      defer { serial.unlock() }
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
  }
#endif
