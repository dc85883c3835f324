public import GraftCore

/// An append-only zip writer laid out the way `torch.save` (miniz) lays out archives.
///
/// Every member is STORED, its data starts on an ``alignment`` boundary (padding goes into an `"FB"` extra field
/// filled with `Z`, as PyTorch does), and its CRC-32 and sizes follow the data in a data descriptor (flag bit 3).
///
/// Data descriptors rather than a first CRC pass: ``AtomicOutputFile`` is append-only and the CRC of a lazily
/// produced tensor is known only after it has streamed through, so a descriptor keeps the writer single-pass with
/// bounded memory. It is also exactly what `torch.save` writes, so every reader that loads torch files (miniz,
/// Python's `zipfile`, this module) accepts it; all of them take sizes from the central directory.
///
/// The zip64 end records are always written (as `torch.save` does); zip64 extra fields appear in the central
/// directory only for members or offsets at or above 4 GiB. Timestamps are zero, so the bytes are deterministic.
public struct ZipWriter: ~Copyable {
  private struct Record {
    var name: [UInt8]
    var crc: UInt32
    var size: Int
    var localOffset: Int
  }

  private var out: AtomicOutputFile
  private var records: [Record] = []
  private var open: Record?
  private var crc = CRC32()
  private let alignment: Int

  /// The path being written.
  public var destination: String { out.destination }
  /// Bytes written so far.
  public var position: Int { out.position }

  /// Starts an archive at `destination` (through a temporary file).
  ///
  /// - Parameter alignment: Data of every member starts at a multiple of this (64 for PyTorch).
  public init(destination: String, inputs: [String] = [], alignment: Int = 64) throws(GraftError) {
    out = try AtomicOutputFile(destination: destination, inputs: inputs)
    self.alignment = max(alignment, 1)
  }

  /// Begins a STORED member; follow with ``write(_:)`` calls and ``endMember()``.
  public mutating func beginMember(_ name: String) throws(GraftError) {
    precondition(open == nil, "beginMember while another member is open")
    let nameBytes = Array(name.utf8)
    guard nameBytes.count <= 0xFFFF else {
      throw GraftError(.invalidArgument, "zip member name '\(name)' is longer than 65535 bytes", file: destination)
    }
    let local = out.position
    let unpadded = local + 30 + nameBytes.count + 4
    let padding = (alignment - unpadded % alignment) % alignment
    var header: [UInt8] = []
    header.reserveCapacity(34 + nameBytes.count + padding)
    header.appendZipLE(UInt32(0x0403_4B50))
    header.appendZipLE(UInt16(0))  // version needed (miniz writes 0)
    header.appendZipLE(UInt16(0x0808))  // data descriptor + UTF-8 names
    header.appendZipLE(UInt16(0))  // stored
    header.appendZipLE(UInt32(0))  // time, date
    header.appendZipLE(UInt32(0))  // crc (in the descriptor)
    header.appendZipLE(UInt32(0))  // compressed size
    header.appendZipLE(UInt32(0))  // uncompressed size
    header.appendZipLE(UInt16(nameBytes.count))
    header.appendZipLE(UInt16(4 + padding))
    header += nameBytes
    header.appendZipLE(UInt16(0x4246))  // "FB"
    header.appendZipLE(UInt16(padding))
    header += [UInt8](repeating: 0x5A, count: padding)
    try out.write(header)
    open = Record(name: nameBytes, crc: 0, size: 0, localOffset: local)
    crc = CRC32()
  }

  /// Appends data to the open member.
  public mutating func write(_ bytes: UnsafeRawBufferPointer) throws(GraftError) {
    precondition(open != nil, "write without an open member")
    crc.update(bytes)
    open?.size += bytes.count
    try out.write(bytes)
  }

  /// Appends an array of bytes to the open member.
  public mutating func write(_ bytes: [UInt8]) throws(GraftError) {
    precondition(open != nil, "write without an open member")
    var c = crc
    bytes.withUnsafeBytes { c.update($0) }
    crc = c
    open?.size += bytes.count
    try out.write(bytes)
  }

  /// Appends a tensor's bytes to the open member: unchanged bytes of a mapped file through ``copy(from:range:)``,
  /// anything else streamed chunk by chunk; errors name `file` and the tensor.
  public mutating func write(
    tensor: Tensor, named name: String, file path: String, progress: ProgressCounter?
  ) throws(GraftError) {
    guard let mapped = tensor.bytes as? MappedBytes else {
      try tensor.write(named: name, file: path, progress: progress) { try self.write($0) }
      return
    }
    do { try copy(from: mapped.region, range: mapped.offset..<(mapped.offset + mapped.byteCount)) } catch {
      throw error.inFile(path).forTensor(name)
    }
    progress?.advance(by: mapped.byteCount)
  }

  /// Appends `range` of a mapped file to the open member: the kernel copies the bytes (`copy_file_range`) while the
  /// second core computes their CRC-32 from what was copied.
  public mutating func copy(from region: MappedRegion, range: Range<Int>) throws(GraftError) {
    precondition(open != nil, "copy without an open member")
    crc = try out.copy(from: region, range: range, digesting: crc) { $0.update($1) }
    open?.size += range.count
  }

  /// Closes the open member, writing its data descriptor.
  public mutating func endMember() throws(GraftError) {
    guard var record = open else { preconditionFailure("endMember without an open member") }
    record.crc = crc.value
    var descriptor: [UInt8] = []
    descriptor.appendZipLE(UInt32(0x0807_4B50))
    descriptor.appendZipLE(record.crc)
    if record.size >= 0xFFFF_FFFF {
      descriptor.appendZipLE(UInt64(record.size))
      descriptor.appendZipLE(UInt64(record.size))
    } else {
      descriptor.appendZipLE(UInt32(record.size))
      descriptor.appendZipLE(UInt32(record.size))
    }
    try out.write(descriptor)
    records.append(record)
    open = nil
  }

  /// Writes a whole member from memory.
  public mutating func addMember(_ name: String, _ bytes: [UInt8]) throws(GraftError) {
    try beginMember(name)
    try write(bytes)
    try endMember()
  }

  /// The CRC-32 values of the members written so far, in order.
  public var memberChecksums: [UInt32] { records.map(\.crc) }

  /// Writes the central directory and end records, then renames the file into place.
  ///
  /// Returns the file's size.
  public consuming func finish() throws(GraftError) -> Int {
    precondition(open == nil, "finish with an open member")
    let directoryOffset = out.position
    for r in records {
      var extra: [UInt8] = []
      let bigSize = r.size >= 0xFFFF_FFFF
      let bigOffset = r.localOffset >= 0xFFFF_FFFF
      if bigSize || bigOffset {
        var payload: [UInt8] = []
        if bigSize {
          payload.appendZipLE(UInt64(r.size))
          payload.appendZipLE(UInt64(r.size))
        }
        if bigOffset { payload.appendZipLE(UInt64(r.localOffset)) }
        extra.appendZipLE(UInt16(1))
        extra.appendZipLE(UInt16(payload.count))
        extra += payload
      }
      var h: [UInt8] = []
      h.appendZipLE(UInt32(0x0201_4B50))
      h.appendZipLE(UInt16(0))  // version made by
      h.appendZipLE(UInt16(bigSize || bigOffset ? 45 : 0))
      h.appendZipLE(UInt16(0x0808))
      h.appendZipLE(UInt16(0))
      h.appendZipLE(UInt32(0))
      h.appendZipLE(r.crc)
      h.appendZipLE(bigSize ? UInt32(0xFFFF_FFFF) : UInt32(r.size))
      h.appendZipLE(bigSize ? UInt32(0xFFFF_FFFF) : UInt32(r.size))
      h.appendZipLE(UInt16(r.name.count))
      h.appendZipLE(UInt16(extra.count))
      h.appendZipLE(UInt16(0))  // comment
      h.appendZipLE(UInt16(0))  // disk
      h.appendZipLE(UInt16(0))  // internal attributes
      h.appendZipLE(UInt32(0))  // external attributes
      h.appendZipLE(bigOffset ? UInt32(0xFFFF_FFFF) : UInt32(r.localOffset))
      h += r.name
      h += extra
      try out.write(h)
    }
    let directorySize = out.position - directoryOffset
    let zip64Offset = out.position
    var end: [UInt8] = []
    end.appendZipLE(UInt32(0x0606_4B50))
    end.appendZipLE(UInt64(44))
    end.appendZipLE(UInt16(0x031E))
    end.appendZipLE(UInt16(0x002D))
    end.appendZipLE(UInt32(0))
    end.appendZipLE(UInt32(0))
    end.appendZipLE(UInt64(records.count))
    end.appendZipLE(UInt64(records.count))
    end.appendZipLE(UInt64(directorySize))
    end.appendZipLE(UInt64(directoryOffset))
    end.appendZipLE(UInt32(0x0706_4B50))
    end.appendZipLE(UInt32(0))
    end.appendZipLE(UInt64(zip64Offset))
    end.appendZipLE(UInt32(1))
    end.appendZipLE(UInt32(0x0605_4B50))
    end.appendZipLE(UInt16(0))
    end.appendZipLE(UInt16(0))
    end.appendZipLE(UInt16(min(records.count, 0xFFFF)))
    end.appendZipLE(UInt16(min(records.count, 0xFFFF)))
    end.appendZipLE(UInt32(min(directorySize, 0xFFFF_FFFF)))
    end.appendZipLE(UInt32(min(directoryOffset, 0xFFFF_FFFF)))
    end.appendZipLE(UInt16(0))
    try out.write(end)
    let total = out.position
    try out.commit()
    return total
  }
}

extension Array where Element == UInt8 {
  /// Appends an integer in little-endian byte order.
  mutating func appendZipLE<T: FixedWidthInteger>(_ value: T) {
    Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
  }
}
