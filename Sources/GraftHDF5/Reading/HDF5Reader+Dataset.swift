#if HDF5
  import GraftCore

  /// Keras refuses a dataset whose declared size is over 4 GiB and over 1000× its stored size
  /// (`_H5_DATASET_BOMB_FLOOR_BYTES`, `_H5_DATASET_MAX_EXPANSION`); Graft uses the same rule.
  let decompressionBombFloor = 1 << 32
  let decompressionMaximumRatio = 1000

  extension HDF5Reader {
    /// How a dataset's bytes map to a Graft dtype.
    struct DatasetFormat {
      var dtype: DType
      /// Bytes per element in the file.
      var elementSize: Int
      /// The size of each byte-swapped unit for big-endian data (the element, or a complex part); 0 for none.
      var swapUnit: Int
      /// Whether the dtype came from a `dtype` attribute (Keras' convention for bf16/fp8).
      var fromAttribute: Bool
    }

    /// A dataset's format, or why it holds no tensor.
    enum FormatResult {
      case success(DatasetFormat)
      case failure(String)
    }

    /// The dtype of a dataset, or the reason it holds no tensor.
    static func format(of info: HDF5Library.TypeInfo, dtypeAttribute: String?) -> FormatResult {
      let swap = info.bigEndian && info.size > 1 ? info.size : 0
      func make(_ dtype: DType, swapUnit: Int = swap, fromAttribute: Bool = false) -> FormatResult {
        guard dtype.byteWidth == info.size else {
          return .failure("\(HDF5Library.describe(info)) cannot hold \(dtype)")
        }
        return .success(
          DatasetFormat(dtype: dtype, elementSize: info.size, swapUnit: swapUnit, fromAttribute: fromAttribute))
      }
      switch info.typeClass {
      case .float:
        let f = info.fields
        let layout = [
          f.sign, f.exponentPosition, f.exponentSize, f.mantissaPosition, f.mantissaSize, info.exponentBias,
        ]
        switch (info.size, layout) {
        case (4, [31, 23, 8, 0, 23, 127]): return make(.float32)
        case (8, [63, 52, 11, 0, 52, 1023]): return make(.float64)
        case (2, [15, 10, 5, 0, 10, 15]): return make(.float16)
        case (2, [15, 7, 8, 0, 7, 127]): return make(.bfloat16, fromAttribute: dtypeAttribute == "bfloat16")
        default: return .failure("unsupported float layout: \(HDF5Library.describe(info))")
        }
      case .integer:
        let table: [Int: (DType, DType)] = [
          1: (.int8, .uint8), 2: (.int16, .uint16), 4: (.int32, .uint32), 8: (.int64, .uint64),
        ]
        guard let pair = table[info.size] else { return .failure(HDF5Library.describe(info)) }
        return make(info.signed ? pair.0 : pair.1)
      case .enumeration where info.size == 1 && info.members.map(\.name) == ["FALSE", "TRUE"]:
        return make(.bool)
      case .opaque:
        let names: [String: DType] = [
          "bfloat16": .bfloat16, "float8_e4m3fn": .float8E4M3, "float8_e5m2": .float8E5M2,
          "float8_e4m3fnuz": .float8E4M3FNUZ, "float8_e5m2fnuz": .float8E5M2FNUZ, "float8_e8m0fnu": .float8E8M0,
        ]
        if let attribute = dtypeAttribute, let dtype = names[attribute] {
          return make(dtype, swapUnit: 0, fromAttribute: true)
        }
        // ml_dtypes' only 2-byte type: Keras 3's legacy `.h5` writer stores bf16 this way without a dtype attribute.
        if info.size == 2 && (info.tag ?? "").isEmpty && dtypeAttribute == nil { return make(.bfloat16, swapUnit: 0) }
        return .failure(HDF5Library.describe(info) + (dtypeAttribute.map { " with dtype attribute '\($0)'" } ?? ""))
      case .compound:
        guard info.members.count == 2, info.members[0].name == "r", info.members[1].name == "i",
          let first = info.members[0].info, let second = info.members[1].info,
          case .success(let part) = format(of: first, dtypeAttribute: nil),
          case .success(let other) = format(of: second, dtypeAttribute: nil),
          part.dtype == other.dtype, part.dtype == .float32 || part.dtype == .float64,
          info.size == 2 * part.elementSize
        else { return .failure(HDF5Library.describe(info)) }
        return make(part.dtype == .float32 ? .complex64 : .complex128, swapUnit: part.swapUnit)
      default:
        return .failure(HDF5Library.describe(info))
      }
    }

    /// The `dtype` string attribute of a dataset, if any.
    func dtypeAttribute(_ dataset: borrowing HDF5Handle) throws(GraftError) -> String? {
      guard HDF5Library.hasAttribute(dataset, "dtype"),
        case .strings(let s, _) = try attribute(dataset, "dtype")
      else { return nil }
      return s.first
    }

    /// A lazy tensor for the dataset at `components`, or `nil` (recorded in ``skipped``) when it holds no tensor.
    func dataset(_ components: [String], name: String) throws(GraftError) -> Tensor? {
      let datasetPath = "/" + components.joined(separator: "/")
      do throws(GraftError) {
        let dataset = try open(components)
        let type = try HDF5Library.datasetType(dataset)
        let info = try HDF5Library.typeInfo(type)
        let space = try HDF5Library.datasetSpace(dataset)
        guard let dims = try HDF5Library.dimensions(ofSpace: space) else {
          skipped.append("\(datasetPath) (empty dataspace)")
          return nil
        }
        let format: DatasetFormat
        switch HDF5Reader.format(of: info, dtypeAttribute: try dtypeAttribute(dataset)) {
        case .success(let f): format = f
        case .failure(let reason):
          skipped.append("\(datasetPath) (\(reason))")
          return nil
        }
        let storage = try HDF5Library.storage(of: dataset)
        if storage.layout == "virtual" {
          throw GraftError(.unsupported, "\(datasetPath) is a virtual dataset; Graft refuses them, as Keras does")
        }
        if storage.externalFiles > 0 {
          throw GraftError(
            .unsupported,
            "\(datasetPath) keeps its data in \(storage.externalFiles) external file(s); Graft refuses external "
              + "datasets, as Keras does")
        }
        guard let count = Checked.product(dims), let total = Checked.multiply(count, format.elementSize) else {
          throw GraftError(.overflow, "\(datasetPath): shape \(dims) overflows")
        }
        if total > decompressionBombFloor && total / max(storage.storedBytes, 1) > decompressionMaximumRatio {
          throw GraftError(
            .limitExceeded,
            "\(datasetPath) declares \(total) bytes but stores \(storage.storedBytes); refusing a decompression "
              + "ratio over \(decompressionMaximumRatio)× for datasets over 4 GiB")
        }
        if total == 0 { return Tensor(dtype: format.dtype, shape: dims, bytes: HeapBytes([])) }
        if storage.layout == "contiguous", storage.filters.isEmpty, format.swapUnit == 0, let offset = storage.offset {
          guard let end = Checked.add(offset, total), end <= fileSize else {
            throw GraftError(
              .truncated, "\(datasetPath) needs bytes \(offset)..<\(offset + total) but the file has \(fileSize)",
              byteOffset: offset)
          }
          if region == nil { region = try MappedRegion(path: path) }
          if let region {
            return Tensor(
              dtype: format.dtype, shape: dims, bytes: MappedBytes(region: region, offset: offset, count: total))
          }
        }
        return Tensor(
          dtype: format.dtype, shape: dims,
          bytes: HDF5Reader.producer(file: file, path: datasetPath, dims: dims, format: format, total: total))
      } catch {
        throw error.forTensor(name)
      }
    }

    /// Bytes read on demand with H5Dread, whole rows of the leading dimension at a time, file type as memory type.
    static func producer(
      file: HDF5SharedFile, path: String, dims: [Int], format: DatasetFormat, total: Int
    )
      -> ProducedBytes
    {
      let rowBytes = dims.isEmpty ? total : total / max(dims[0], 1)
      let swapUnit = format.swapUnit
      return ProducedBytes(byteCount: total, storage: file) { range, buffer in
        let firstRow = range.lowerBound / rowBytes
        let endRow = (range.upperBound + rowBytes - 1) / rowBytes
        let span = (firstRow * rowBytes)..<(endRow * rowBytes)
        let dataset = try HDF5Library.openObject(file.handle, path)
        let type = try HDF5Library.datasetType(dataset)
        func fill(_ target: UnsafeMutableRawBufferPointer) throws(GraftError) {
          do {
            try HDF5Library.readRows(dataset, type: type, dims: dims, rows: firstRow..<endRow, into: target)
          } catch { throw error.inFile(file.path) }
          target.reverseBytes(ofElementsOfWidth: swapUnit)
        }
        if span == range {
          try fill(buffer)
          return
        }
        let temporary = UnsafeMutableRawBufferPointer.allocate(byteCount: span.count, alignment: 64)
        defer { temporary.deallocate() }
        try fill(temporary)
        let start = range.lowerBound - span.lowerBound
        buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: temporary[start..<(start + range.count)]))
      }
    }
  }
#endif
