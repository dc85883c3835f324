public import GraftCore

extension SafeTensors {
  /// Opens a `.safetensors` file: maps it, validates the header and returns zero-copy tensors.
  ///
  /// Only the header is read; each tensor's bytes are a ``MappedBytes`` slice of the mapping, paged in when used.
  /// Metadata goes to ``TensorTable/metadata`` (string values, file order); tensors are in file order.
  ///
  /// - Throws: ``GraftError`` naming the file, the tensor and the byte offset; see ``parseHeader(_:file:options:)``.
  public static func read(path: String, options: ReadOptions = .init()) throws(GraftError) -> TensorTable {
    let region = try MappedRegion(path: path)
    let header = try parseHeader(region.bytes, file: path, options: options)
    var table = TensorTable()
    table.metadata = header.metadata ?? JSONObject()
    for info in header.tensors {
      let bytes = MappedBytes(
        region: region, offset: header.dataStart + info.dataOffsets.lowerBound, count: info.dataOffsets.count)
      try table.append(info.name, Tensor(dtype: info.dtype, shape: info.shape, bytes: bytes))
    }
    return table
  }

  /// Parses and validates the header of a whole safetensors file held in `bytes`.
  ///
  /// The checks and their order are those of the reference crate (`SafeTensors::read_metadata` and
  /// `Metadata::validate`): header too small, header too large, invalid header length, UTF-8, JSON deserialisation,
  /// then per tensor in offset order: offset contiguity, size overflow, sub-byte alignment, size agreement, and
  /// finally that the tensors cover the buffer exactly. A repeated name is rejected unless `options` asks for
  /// the crate's last-wins behaviour. Only the first 8 + N bytes are read; the rest is only measured.
  ///
  /// - Throws: ``GraftError`` whose message starts with the crate's Display text (see ``CrateErrorKind``), with
  ///   the file, the tensor and the absolute byte offset of the problem.
  public static func parseHeader(
    _ bytes: UnsafeRawBufferPointer, file: String?, options: ReadOptions
  ) throws(GraftError) -> Header {
    guard bytes.count >= 8 else {
      throw crateError(
        .headerTooSmall, "the file has \(bytes.count) bytes, fewer than the 8-byte header length prefix", file: file,
        at: 0)
    }
    let declared = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
    guard let headerLength = Int(exactly: declared), headerLength <= maximumHeaderLength else {
      throw crateError(
        .headerTooLarge, "the length prefix declares \(declared) header bytes; the limit is \(maximumHeaderLength)",
        file: file, at: 0)
    }
    guard let headerEnd = Checked.add(headerLength, 8), headerEnd <= bytes.count else {
      throw crateError(
        .invalidHeaderLength,
        "the length prefix declares \(headerLength) header bytes but only \(bytes.count - 8) follow it", file: file,
        at: 0)
    }
    let headerBytes = UnsafeRawBufferPointer(rebasing: bytes[8..<headerEnd])
    if let bad = HeaderScanner.firstInvalidUTF8(headerBytes) {
      throw crateError(
        .invalidHeader, "invalid UTF-8 sequence starting with byte 0x\(String(headerBytes[bad], radix: 16))",
        file: file, at: 8 + bad)
    }
    let entries = try deserialize(headerBytes, file: file, options: options)
    // Sorting by (begin, end) is what makes any key order acceptable; the sort is stable, so ties keep file order.
    let sorted = entries.tensors.enumerated().sorted { a, b in
      let x = a.element.offsets
      let y = b.element.offsets
      return x.begin != y.begin ? x.begin < y.begin : (x.end != y.end ? x.end < y.end : a.offset < b.offset)
    }.map(\.element)
    let dataStart = UInt64(headerEnd)
    var start: UInt64 = 0
    for raw in sorted {
      let (s, e) = raw.offsets
      guard s == start, e >= s else {
        let detail =
          s != start
          ? "its data_offsets [\(s), \(e)] should begin at \(start), where the previous tensor ends"
          : "its data_offsets [\(s), \(e)] end before they begin"
        throw crateError(.invalidOffset, detail, file: file, tensor: raw.name, at: entries.keyOffset(raw.name))
      }
      var elements: UInt64 = 1
      for d in raw.shape {
        let (m, o) = elements.multipliedReportingOverflow(by: d)
        guard !o else {
          throw crateError(
            .validationOverflow, "shape \(raw.shape) has more than 2^64 elements", file: file, tensor: raw.name,
            at: entries.keyOffset(raw.name))
        }
        elements = m
      }
      let (bits, o) = elements.multipliedReportingOverflow(by: UInt64(raw.dtype.bitWidth))
      guard !o else {
        throw crateError(
          .validationOverflow, "shape \(raw.shape) of \(raw.dtype) has more than 2^64 bits", file: file,
          tensor: raw.name, at: entries.keyOffset(raw.name))
      }
      guard bits % 8 == 0 else {
        throw crateError(
          .misalignedSlice, "(tensor `\(raw.name)`: shape \(raw.shape) of \(raw.dtype) is \(bits) bits)", file: file,
          tensor: raw.name, at: entries.keyOffset(raw.name))
      }
      guard e - s == bits / 8 else {
        throw crateError(
          .tensorInvalidInfo,
          "`\(raw.name)`: shape \(raw.shape) of \(raw.dtype) needs \(bits / 8) bytes but data_offsets [\(s), \(e)] "
            + "span \(e - s)", file: file, tensor: raw.name, at: entries.keyOffset(raw.name))
      }
      start = e
    }
    let (withPrefix, o) = start.addingReportingOverflow(dataStart)
    guard !o, withPrefix == UInt64(bytes.count) else {
      let detail =
        !o && withPrefix < UInt64(bytes.count)
        ? "the tensors end at byte \(withPrefix) but the file has \(bytes.count) bytes; trailing bytes belong to no "
          + "tensor"
        : "the tensors need \(o ? "more than 2^64" : String(withPrefix)) bytes but the file has \(bytes.count)"
      throw crateError(
        .metadataIncompleteBuffer, detail, file: file, at: Int(clamping: min(withPrefix, UInt64(bytes.count))),
        code: !o && withPrefix < UInt64(bytes.count) ? .invalidOffset : .truncated)
    }
    var tensors: [Header.TensorInfo] = []
    tensors.reserveCapacity(sorted.count)
    for raw in sorted {
      // Offsets are bounded by the file size now; a dimension can still exceed Int.max when another one is 0.
      var shape: [Int] = []
      for d in raw.shape {
        guard let v = Int(exactly: d) else {
          throw crateError(
            .validationOverflow, "dimension \(d) of shape \(raw.shape) does not fit in a signed 64-bit integer",
            file: file, tensor: raw.name, at: entries.keyOffset(raw.name))
        }
        shape.append(v)
      }
      tensors.append(
        Header.TensorInfo(
          name: raw.name, dtype: raw.dtype, shape: shape, dataOffsets: Int(raw.offsets.begin)..<Int(raw.offsets.end)))
    }
    return Header(metadata: entries.metadata, tensors: tensors, headerLength: headerLength)
  }

  /// One tensor entry as deserialised, before validation (numbers as the crate's `usize`).
  struct RawTensorInfo {
    var name: String
    var dtype: DType
    var shape: [UInt64]
    var offsets: (begin: UInt64, end: UInt64)
  }

  /// The deserialised header: what serde produces in the crate.
  struct DeserializedHeader {
    var metadata: JSONObject?
    var tensors: [RawTensorInfo]
    var headerBytes: UnsafeRawBufferPointer

    /// The absolute offset of a top-level key (its last occurrence), found by rescanning the header; only called
    /// for error messages.
    func keyOffset(_ name: String) -> Int? {
      HeaderScanner.members(of: headerBytes).last { $0.key == name }.map { 8 + $0.keyOffset }
    }
  }

  /// Step 5 of the crate: JSON into `{__metadata__: {str: str}?, name: {dtype, shape, data_offsets}}`.
  static func deserialize(
    _ headerBytes: UnsafeRawBufferPointer, file: String?, options: ReadOptions
  ) throws(GraftError) -> DeserializedHeader {
    var parserOptions = JSONParser.Options()
    parserOptions.duplicateKeys = options.duplicateKeys
    let root: JSONValue
    do {
      root = try JSONParser.parse(headerBytes, baseOffset: 8, file: file, options: parserOptions)
    } catch {
      if error.code == .duplicateKey {
        let name = error.byteOffset.flatMap { HeaderScanner.string(in: headerBytes, at: $0 - 8) } ?? "?"
        let isTopLevel = HeaderScanner.members(of: headerBytes).contains { 8 + $0.keyOffset == error.byteOffset }
        throw GraftError(
          .duplicateKey,
          "duplicate key `\(name)` in the header; the safetensors crate would silently keep the last one (read "
            + "with duplicate keys set to keep-last to do the same)", file: file,
          tensor: isTopLevel && name != "__metadata__" ? name : nil,
          byteOffset: error.byteOffset)
      }
      throw crateError(
        .invalidHeaderDeserialization, error.message, file: file, at: error.byteOffset, code: error.code)
    }
    var result = DeserializedHeader(metadata: nil, tensors: [], headerBytes: headerBytes)
    guard case .object(let object) = root else {
      throw crateError(
        .invalidHeaderDeserialization, "expected an object at the top level but found \(root.kindDescription)",
        file: file, at: 8 + HeaderScanner.skipWhitespace(headerBytes, from: 0))
    }
    var position: [String: Int] = [:]
    for (key, value) in object {
      if key == "__metadata__" {
        result.metadata = try deserializeMetadata(value, file: file, at: { result.keyOffset(key) })
        continue
      }
      let info = try deserializeTensor(name: key, value, file: file, at: { result.keyOffset(key) })
      // Last wins, as serde's HashMap does; only reachable when duplicates are allowed.
      if let earlier = position[key] {
        result.tensors[earlier] = info
      } else {
        position[key] = result.tensors.count
        result.tensors.append(info)
      }
    }
    return result
  }

  private static func deserializeMetadata(
    _ value: JSONValue, file: String?, at offset: () -> Int?
  ) throws(GraftError) -> JSONObject? {
    switch value {
    case .null: return nil
    case .object(let members):
      var metadata = OrderedMembers()
      for (k, v) in members {
        guard case .string = v else {
          throw crateError(
            .invalidHeaderDeserialization,
            "__metadata__ value for key `\(k)` is \(v.kindDescription), expected a string", file: file,
            at: offset())
        }
        metadata.set(k, v)
      }
      return metadata.object
    default:
      throw crateError(
        .invalidHeaderDeserialization, "__metadata__ is \(value.kindDescription), expected an object of strings",
        file: file, at: offset())
    }
  }

  private static func deserializeTensor(
    name: String, _ value: JSONValue, file: String?, at offset: () -> Int?
  ) throws(GraftError) -> RawTensorInfo {
    func fail(_ detail: String, code: GraftError.Code? = nil) -> GraftError {
      crateError(
        .invalidHeaderDeserialization, "tensor `\(name)`: " + detail, file: file, tensor: name, at: offset(),
        code: code)
    }
    guard case .object(let fields) = value else {
      throw fail("expected an object with dtype, shape and data_offsets but found \(value.kindDescription)")
    }
    // Unknown fields are ignored, as serde does without `deny_unknown_fields`.
    guard let dtypeValue = fields["dtype"] else { throw fail("missing field `dtype`") }
    guard case .string(let dtypeName) = dtypeValue else {
      throw fail("dtype is \(dtypeValue.kindDescription), expected a string")
    }
    guard let dtype = DType(rawValue: dtypeName), dtype.isSafetensorsType else {
      throw fail("unknown dtype \"\(dtypeName)\"", code: .unknownDType)
    }
    guard let shapeValue = fields["shape"] else { throw fail("missing field `shape`") }
    guard case .array(let dims) = shapeValue else {
      throw fail("shape is \(shapeValue.kindDescription), expected an array of non-negative integers")
    }
    var shape: [UInt64] = []
    shape.reserveCapacity(dims.count)
    for d in dims {
      guard let v = unsignedInteger(d) else {
        throw fail("shape \(shapeValue.serialized()) contains \(d.serialized()), expected a non-negative integer")
      }
      shape.append(v)
    }
    guard let offsetsValue = fields["data_offsets"] else { throw fail("missing field `data_offsets`") }
    guard case .array(let pair) = offsetsValue, pair.count == 2, let begin = unsignedInteger(pair[0]),
      let end = unsignedInteger(pair[1])
    else {
      throw fail("data_offsets is \(offsetsValue.serialized()), expected [BEGIN, END] with non-negative integers")
    }
    return RawTensorInfo(name: name, dtype: dtype, shape: shape, offsets: (begin, end))
  }

  /// A JSON integer as the crate's `usize` (64-bit), or `nil` for negatives, floats and other kinds.
  private static func unsignedInteger(_ value: JSONValue) -> UInt64? {
    switch value {
    case .int(let v): return v >= 0 ? UInt64(v) : nil
    case .uint(let v): return v
    default: return nil
    }
  }
}
