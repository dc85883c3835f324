public import GraftCore

/// Reading and writing NumPy `.npy` arrays and `.npz` archives.
///
/// Arrays NumPy has no dtype for (bf16, fp8, fp4) are stored as raw void (`'|V2'`, `'|V1'`) and the Graft dtype is
/// recorded as a Python comment after the header dict, `# graft-dtype: BF16`, which `np.load` ignores (its header
/// parser is `ast.literal_eval`). NumPy users see raw bytes they can `.view(ml_dtypes.bfloat16)`; Graft reads the
/// dtype back. `.npz` members carry the same comment, so an `.npz` stays a plain dict of arrays.
public enum NumPyFormat {
  /// The largest `.npy` header accepted (NumPy's own default cap is 10,000 bytes; writers of huge structured
  /// dtypes can exceed it).
  public static let maxHeaderBytes = 1 << 20

  static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]

  /// Reads a `.npy` file; the data stays mapped (C order, little-endian: zero-copy; otherwise produced on demand).
  ///
  /// - Throws: `unrecognizedFormat` without the `\x93NUMPY` magic, `invalidHeader` for a malformed header,
  ///   `unsupported` for object (`'|O'`) and structured arrays, `truncated` when the data is short.
  public static func readNPY(path: String) throws(GraftError) -> Tensor {
    let region = try MappedRegion(path: path)
    return try parse(MappedBytes(region: region, offset: 0, count: region.count), file: path, baseOffset: 0)
  }

  /// Reads every `<name>.npy` member of an `.npz` archive.
  ///
  /// STORED members stay zero-copy; DEFLATE members are inflated lazily with the zip reader's ratio cap.
  /// Members that are not `.npy` files are ignored.
  public static func readNPZ(path: String) throws(GraftError) -> TensorTable {
    let zip = try ZipArchive(path: path)
    var table = TensorTable()
    for entry in zip.entries where entry.name.hasSuffix(".npy") {
      let name = String(entry.name.dropLast(4))
      let source = try zip.bytes(of: entry)
      do {
        try table.append(name, try parse(source, file: path, baseOffset: entry.dataOffset))
      } catch {
        throw error.forTensor(name)
      }
    }
    if table.isEmpty && !zip.entries.isEmpty && zip.entries.contains(where: { $0.name.hasSuffix("data.pkl") }) {
      throw GraftError(.unrecognizedFormat, "this zip is a PyTorch checkpoint, not an .npz", file: path)
    }
    return table
  }

  // MARK: - Parsing

  static func parse(_ source: any TensorByteSource, file: String, baseOffset: Int) throws(GraftError) -> Tensor {
    let headLength = min(source.byteCount, 12)
    var head = [UInt8](repeating: 0, count: headLength)
    try copy(source, 0..<headLength, into: &head, file: file)
    guard headLength >= 10, Array(head[0..<6]) == magic else {
      throw GraftError(.unrecognizedFormat, "no \\x93NUMPY magic: not a .npy array", file: file, byteOffset: baseOffset)
    }
    let major = head[6]
    let headerLength: Int
    let start: Int
    switch major {
    case 1:
      headerLength = Int(head[8]) | Int(head[9]) << 8
      start = 10
    case 2, 3:
      guard headLength >= 12 else {
        throw GraftError(.truncated, "the .npy header length is cut off", file: file, byteOffset: baseOffset + 8)
      }
      headerLength = Int(head[8]) | Int(head[9]) << 8 | Int(head[10]) << 16 | Int(head[11]) << 24
      start = 12
    default:
      throw GraftError(
        .unsupported, ".npy format version \(major).\(head[7]) is not supported (1.0-3.0 are)", file: file,
        byteOffset: baseOffset + 6)
    }
    guard headerLength <= maxHeaderBytes else {
      throw GraftError(
        .limitExceeded, "the .npy header is \(headerLength) bytes; the cap is \(maxHeaderBytes)", file: file,
        byteOffset: baseOffset + 8)
    }
    guard start + headerLength <= source.byteCount else {
      throw GraftError(
        .truncated, "the .npy header declares \(headerLength) bytes but the file ends first", file: file,
        byteOffset: baseOffset + start)
    }
    var headerBytes = [UInt8](repeating: 0, count: headerLength)
    try copy(source, start..<(start + headerLength), into: &headerBytes, file: file)
    let header = try NPYHeader(parsing: headerBytes, file: file, baseOffset: baseOffset + start)
    let dataStart = start + headerLength
    let (order, code) = NumPyDescr.split(header.descr)
    let dtype: DType
    if let recorded = header.graftDType, code.hasPrefix("V") {
      dtype = recorded
    } else if let d = NumPyDescr.dtype(header.descr) {
      dtype = d
    } else if code == "O" {
      throw GraftError(
        .unsupported, "the array holds pickled Python objects ('|O'); Graft never unpickles .npy object arrays",
        file: file, byteOffset: baseOffset + start)
    } else {
      throw GraftError(
        .unsupportedDType, "NumPy dtype '\(header.descr)' is not supported (no graft-dtype comment for raw void)",
        file: file, byteOffset: baseOffset + start)
    }
    if let recorded = header.graftDType, code.hasPrefix("V"), "V\(recorded.byteWidth ?? 0)" != code {
      throw GraftError(
        .invalidHeader, "graft-dtype \(recorded) does not match the raw void size '\(code)'", file: file,
        byteOffset: baseOffset + start)
    }
    guard let count = Checked.product(header.shape), let byteCount = dtype.byteCount(elements: count) else {
      throw GraftError(.overflow, "shape \(header.shape) overflows", file: file, byteOffset: baseOffset + start)
    }
    guard byteCount <= source.byteCount - dataStart else {
      throw GraftError(
        .truncated,
        "shape \(header.shape) of \(header.descr) needs \(byteCount) bytes but only \(source.byteCount - dataStart) "
          + "follow the header",
        file: file, byteOffset: baseOffset + dataStart)
    }
    let data: any TensorByteSource
    if let mapped = source as? MappedBytes {
      data = MappedBytes(region: mapped.region, offset: mapped.offset + dataStart, count: byteCount)
    } else {
      data = ProducedBytes(byteCount: byteCount, storage: source) { range, buffer in
        try source.copyBytes(in: (dataStart + range.lowerBound)..<(dataStart + range.upperBound), into: buffer)
      }
    }
    var strides = [Int](repeating: 1, count: header.shape.count)
    if header.fortranOrder {
      for d in stride(from: 1, to: strides.count, by: 1) { strides[d] = strides[d - 1] * header.shape[d - 1] }
    } else {
      for d in stride(from: strides.count - 2, through: 0, by: -1) {
        strides[d] = strides[d + 1] * header.shape[d + 1]
      }
    }
    do {
      return try StridedView.tensor(
        storage: data, dtype: dtype, shape: header.shape, strides: strides, offset: 0, swapBytes: order == ">")
    } catch {
      throw error.inFile(file)
    }
  }

  private static func copy(
    _ source: any TensorByteSource, _ range: Range<Int>, into out: inout [UInt8], file: String
  )
    throws(GraftError)
  {
    do {
      try out.withUnsafeMutableBytes { try source.copyBytes(in: range, into: $0) }
    } catch let e as GraftError {
      throw e.inFile(file)
    } catch {
      throw GraftError(.io, "cannot read", file: file, cause: error)
    }
  }

  // MARK: - Writing

  /// The `.npy` header (magic, version, length, dict literal padded to 64 bytes) for a tensor.
  static func header(for tensor: Tensor, file: String, tensorName: String? = nil) throws(GraftError) -> [UInt8] {
    let descr: String
    var comment = ""
    if let d = NumPyDescr.descr(for: tensor.dtype) {
      descr = d
    } else if let w = tensor.dtype.byteWidth {
      descr = "|V\(w)"
      comment = " # graft-dtype: \(tensor.dtype.rawValue)"
    } else {
      throw GraftError(
        .unsupportedDType, "\(tensor.dtype) has sub-byte elements, which .npy cannot store", file: file,
        tensor: tensorName)
    }
    let shape =
      tensor.shape.count == 1
      ? "(\(tensor.shape[0]),)" : "(" + tensor.shape.map(String.init).joined(separator: ", ") + ")"
    var dict = Array("{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }\(comment)".utf8)
    let v1 = dict.count + 64 <= 0xFFFF
    let prefix = v1 ? 10 : 12
    let padding = (64 - (prefix + dict.count + 1) % 64) % 64
    dict += [UInt8](repeating: 0x20, count: padding) + [0x0A]
    var out = magic + (v1 ? [1, 0] : [2, 0])
    let n = dict.count
    out +=
      v1
      ? [UInt8(n & 0xFF), UInt8(n >> 8)]
      : [UInt8(n & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n >> 16 & 0xFF), UInt8(n >> 24)]
    return out + dict
  }

  /// Writes one tensor as a `.npy` file (version 1.0 unless the header needs 2.0).
  public static func writeNPY(_ tensor: Tensor, to path: String, inputs: [String] = []) throws -> WriteSummary {
    try tensor.requireUnquantized(
      writer: "NumPy .npy", file: path, name: String(path.split(separator: "/").last ?? "array"))
    var out = try AtomicOutputFile(destination: path, inputs: inputs)
    try out.write(try header(for: tensor, file: path))
    do {
      try tensor.forEachChunk { chunk in try out.write(chunk) }
    } catch let e as GraftError {
      throw e.inFile(path)
    }
    let total = out.position
    try out.commit()
    return WriteSummary(files: [path], bytesWritten: total, storedTensorCount: 1)
  }

  /// Writes a table as an `.npz`: STORED zip64 members `<name>.npy`, data 64-byte aligned (mappable).
  ///
  /// `.npz` cannot share storage, so every alias is written as its own copy and listed in the summary's notes.
  public static func writeNPZ(
    _ table: TensorTable, to path: String, inputs: [String] = [], progress: ProgressCounter? = nil
  ) throws -> WriteSummary {
    try table.requireUnquantized(writer: "NumPy .npz", file: path)
    var zip = try ZipWriter(destination: path, inputs: inputs, alignment: 64)
    var notes: [String] = []
    progress?.expect(table.entries.reduce(0) { $0 + $1.tensor.byteCount })
    for entry in table.entries {
      if let target = entry.aliasOf { notes.append("\(entry.name): alias of \(target) written as a copy") }
      try zip.beginMember(entry.name + ".npy")
      try zip.write(try header(for: entry.tensor, file: path, tensorName: entry.name))
      try zip.write(tensor: entry.tensor, named: entry.name, file: path, progress: progress)
      try zip.endMember()
    }
    let total = try zip.finish()
    return WriteSummary(files: [path], bytesWritten: total, storedTensorCount: table.count, notes: notes)
  }
}
