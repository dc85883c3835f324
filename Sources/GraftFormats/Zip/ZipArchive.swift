public import GraftCore

/// A read-only view of a zip file's central directory over a memory mapping.
///
/// Opening reads only the end-of-central-directory records and the central directory, so it costs the same for a
/// 1 KB and a 100 GB file. STORED members are handed out as zero-copy ``MappedBytes``; DEFLATE members are inflated
/// on first use with a ratio cap. Zip64 sizes and offsets are supported.
public struct ZipArchive: Sendable {
  /// Resource caps applied to untrusted archives.
  public struct Limits: Sendable {
    /// The most members an archive may declare.
    public var maxEntries = 1 << 20
    /// The largest decompressed size of one DEFLATE member, in bytes.
    public var maxInflatedBytes = 16 << 30
    /// The largest ratio of decompressed to compressed size.
    ///
    /// DEFLATE cannot exceed about 1032:1, so a larger
    /// declared ratio is a lie told by a zip bomb.
    public var maxCompressionRatio = 1100
    /// Creates the default limits.
    public init() {}
  }

  /// One member of the archive.
  public struct Entry: Sendable {
    /// The member's path inside the archive.
    public var name: String
    /// The compression method (0 stored, 8 deflate).
    public var method: UInt16
    /// The general-purpose flags.
    public var flags: UInt16
    /// The CRC-32 recorded in the central directory.
    public var crc32: UInt32
    /// The compressed size in bytes.
    public var compressedSize: Int
    /// The uncompressed size in bytes.
    public var uncompressedSize: Int
    /// The offset of the member's local header.
    public var localHeaderOffset: Int
    /// The offset of the member's first data byte (after the local header, name and extra field).
    public var dataOffset: Int
  }

  /// The mapping of the whole file.
  public let region: MappedRegion
  /// The members in central-directory order.
  public let entries: [Entry]
  private let index: [String: Int]
  /// The limits the archive was opened with.
  public let limits: Limits

  /// The file's path, for error messages.
  public var path: String { region.path }

  /// Whether the bytes start with a local file header signature.
  public static func looksLikeZip(_ bytes: UnsafeRawBufferPointer) -> Bool {
    bytes.count >= 4 && bytes[0] == 0x50 && bytes[1] == 0x4B && bytes[2] == 0x03 && bytes[3] == 0x04
  }

  /// Maps and parses the archive at `path`.
  public init(path: String, limits: Limits = Limits()) throws(GraftError) {
    try self.init(region: MappedRegion(path: path), limits: limits)
  }

  /// Parses the archive in an existing mapping.
  ///
  /// - Throws: `unrecognizedFormat` when there is no end-of-central-directory record, `truncated` or
  ///   `invalidHeader` for damaged records, `limitExceeded` when the member count exceeds ``Limits/maxEntries``.
  public init(region: MappedRegion, limits: Limits = Limits()) throws(GraftError) {
    self.region = region
    self.limits = limits
    let file = region.path
    let bytes = region.bytes
    let directory = try ZipArchive.locateCentralDirectory(bytes, file: file)
    guard directory.count <= limits.maxEntries else {
      throw GraftError(
        .limitExceeded,
        "the archive declares \(directory.count) members; the cap is \(limits.maxEntries)",
        file: file, byteOffset: directory.recordOffset)
    }
    // Each central record is at least 46 bytes, so the count is bounded by the directory's size before allocating.
    guard let minimum = Checked.multiply(directory.count, 46), minimum <= directory.size,
      let end = Checked.add(directory.offset, directory.size), end <= bytes.count
    else {
      throw GraftError(
        .truncated,
        "the central directory (\(directory.count) members, \(directory.size) bytes at \(directory.offset)) "
          + "does not fit in the \(bytes.count)-byte file",
        file: file, byteOffset: directory.recordOffset)
    }
    var reader = ByteReader(
      UnsafeRawBufferPointer(rebasing: bytes[directory.offset..<end]), baseOffset: directory.offset, file: file)
    var entries: [Entry] = []
    entries.reserveCapacity(directory.count)
    var index: [String: Int] = [:]
    for _ in 0..<directory.count {
      let entry = try ZipArchive.readCentralRecord(&reader, fileBytes: bytes, file: file)
      if index[entry.name] != nil {
        throw GraftError(
          .duplicateKey, "the member '\(entry.name)' appears twice in the central directory", file: file,
          byteOffset: entry.localHeaderOffset)
      }
      index[entry.name] = entries.count
      entries.append(entry)
    }
    try ZipArchive.checkNoOverlap(entries, file: file)
    self.entries = entries
    self.index = index
  }

  /// The member with the given name, or `nil`.
  public func entry(named name: String) -> Entry? { index[name].map { entries[$0] } }

  /// The bytes of a member: zero-copy for STORED members, inflated (once, lazily) for DEFLATE members.
  ///
  /// CRC-32 is not verified here (that would read every byte); call ``verifyChecksum(_:)`` when it matters.
  public func bytes(of entry: Entry) throws(GraftError) -> any TensorByteSource {
    switch entry.method {
    case 0:
      return MappedBytes(region: region, offset: entry.dataOffset, count: entry.uncompressedSize)
    case 8:
      return InflatedMember(region: region, entry: entry, limits: limits)
    default:
      throw GraftError(
        .unsupported,
        "member '\(entry.name)' uses compression method \(entry.method); only stored (0) and deflate (8) are read",
        file: path, byteOffset: entry.localHeaderOffset)
    }
  }

  /// Reads a whole (small) member into memory, verifying its CRC-32.
  public func readSmallMember(_ entry: Entry, cap: Int) throws(GraftError) -> [UInt8] {
    guard entry.uncompressedSize <= cap else {
      throw GraftError(
        .limitExceeded, "member '\(entry.name)' is \(entry.uncompressedSize) bytes; the cap is \(cap)", file: path,
        byteOffset: entry.dataOffset)
    }
    let source = try bytes(of: entry)
    var out = [UInt8](repeating: 0, count: entry.uncompressedSize)
    do {
      try out.withUnsafeMutableBytes { try source.copyBytes(in: 0..<entry.uncompressedSize, into: $0) }
    } catch let e as GraftError {
      throw e
    } catch {
      throw GraftError(.io, "cannot read member '\(entry.name)'", file: path, cause: error)
    }
    let crc = out.withUnsafeBytes { CRC32.checksum($0) }
    guard crc == entry.crc32 else {
      throw GraftError(
        .checksumMismatch,
        "member '\(entry.name)' has CRC-32 \(hexCRC(crc)) but the central directory records \(hexCRC(entry.crc32))",
        file: path, byteOffset: entry.dataOffset)
    }
    return out
  }

  /// Reads every byte of a member and compares its CRC-32 with the central directory.
  public func verifyChecksum(_ entry: Entry) throws(GraftError) {
    let source = try bytes(of: entry)
    var crc = CRC32()
    do {
      try Tensor(dtype: .uint8, shape: [entry.uncompressedSize], bytes: source).forEachChunk { crc.update($0) }
    } catch let e as GraftError {
      throw e
    } catch {
      throw GraftError(.io, "cannot read member '\(entry.name)'", file: path, cause: error)
    }
    guard crc.value == entry.crc32 else {
      throw GraftError(
        .checksumMismatch,
        "member '\(entry.name)' has CRC-32 \(hexCRC(crc.value)) but the central directory records \(hexCRC(entry.crc32))",
        file: path, byteOffset: entry.dataOffset)
    }
  }

  // MARK: - Parsing

  private struct Directory {
    var count: Int
    var size: Int
    var offset: Int
    var recordOffset: Int
  }

  private static func locateCentralDirectory(
    _ bytes: UnsafeRawBufferPointer, file: String
  ) throws(GraftError)
    -> Directory
  {
    // The EOCD record is 22 bytes plus a comment of at most 65535 bytes, so it starts in the last 65557 bytes.
    guard bytes.count >= 22 else {
      throw GraftError(
        .truncated, "a zip file needs at least 22 bytes for its end record; this one has \(bytes.count)", file: file,
        byteOffset: 0)
    }
    let lowest = max(0, bytes.count - 22 - 0xFFFF)
    var eocd = -1
    var p = bytes.count - 22
    while p >= lowest {
      if bytes[p] == 0x50 && bytes[p + 1] == 0x4B && bytes[p + 2] == 0x05 && bytes[p + 3] == 0x06 {
        eocd = p
        break
      }
      p -= 1
    }
    guard eocd >= 0 else {
      throw GraftError(
        .truncated,
        "no end-of-central-directory record (PK\\5\\6) in the last \(bytes.count - lowest) bytes; "
          + "the zip file is truncated or not a zip file",
        file: file, byteOffset: lowest)
    }
    var r = ByteReader(UnsafeRawBufferPointer(rebasing: bytes[eocd...]), baseOffset: eocd, file: file)
    try r.skip(4)
    let disk: UInt16 = try r.readLittleEndian()
    let cdDisk: UInt16 = try r.readLittleEndian()
    _ = try r.readLittleEndian(UInt16.self)
    let count16: UInt16 = try r.readLittleEndian()
    let size32: UInt32 = try r.readLittleEndian()
    let offset32: UInt32 = try r.readLittleEndian()
    guard disk == 0 || disk == 0xFFFF, cdDisk == 0 || cdDisk == 0xFFFF else {
      throw GraftError(.unsupported, "multi-disk (split) zip archives are not supported", file: file, byteOffset: eocd)
    }
    var directory = Directory(count: Int(count16), size: Int(size32), offset: Int(offset32), recordOffset: eocd)
    let needsZip64 = count16 == 0xFFFF || size32 == 0xFFFF_FFFF || offset32 == 0xFFFF_FFFF
    // The zip64 locator sits immediately before the EOCD record.
    if eocd >= 20 {
      var l = ByteReader(UnsafeRawBufferPointer(rebasing: bytes[(eocd - 20)..<eocd]), baseOffset: eocd - 20, file: file)
      if try l.readLittleEndian(UInt32.self) == 0x0706_4B50 {
        _ = try l.readLittleEndian(UInt32.self)
        let recordOffset64: UInt64 = try l.readLittleEndian()
        guard let recordOffset = Int(exactly: recordOffset64), recordOffset <= eocd - 20 - 56 else {
          throw GraftError(
            .invalidHeader, "the zip64 locator points at \(recordOffset64), outside the file", file: file,
            byteOffset: eocd - 20)
        }
        var z = ByteReader(
          UnsafeRawBufferPointer(rebasing: bytes[recordOffset..<(eocd - 20)]), baseOffset: recordOffset, file: file)
        guard try z.readLittleEndian(UInt32.self) == 0x0606_4B50 else {
          throw z.error(.invalidHeader, "expected the zip64 end-of-central-directory signature PK\\6\\6")
        }
        try z.skip(8 + 2 + 2 + 4 + 4 + 8)
        let count64: UInt64 = try z.readLittleEndian()
        let size64: UInt64 = try z.readLittleEndian()
        let offset64: UInt64 = try z.readLittleEndian()
        guard let c = Int(exactly: count64), let s = Int(exactly: size64), let o = Int(exactly: offset64) else {
          throw GraftError(
            .invalidHeader, "zip64 directory fields overflow", file: file, byteOffset: recordOffset)
        }
        directory = Directory(count: c, size: s, offset: o, recordOffset: recordOffset)
      } else if needsZip64 {
        throw GraftError(
          .invalidHeader, "the end record uses zip64 placeholders but there is no zip64 locator", file: file,
          byteOffset: eocd)
      }
    }
    return directory
  }

  private static func readCentralRecord(
    _ r: inout ByteReader, fileBytes: UnsafeRawBufferPointer, file: String
  ) throws(GraftError) -> Entry {
    let start = r.absoluteOffset
    guard try r.readLittleEndian(UInt32.self) == 0x0201_4B50 else {
      throw GraftError(
        .invalidHeader, "expected a central directory record (PK\\1\\2)", file: file, byteOffset: start)
    }
    try r.skip(4)
    let flags: UInt16 = try r.readLittleEndian()
    let method: UInt16 = try r.readLittleEndian()
    try r.skip(4)
    let crc: UInt32 = try r.readLittleEndian()
    let compressed32: UInt32 = try r.readLittleEndian()
    let uncompressed32: UInt32 = try r.readLittleEndian()
    let nameLength: UInt16 = try r.readLittleEndian()
    let extraLength: UInt16 = try r.readLittleEndian()
    let commentLength: UInt16 = try r.readLittleEndian()
    try r.skip(2 + 2 + 4)
    let local32: UInt32 = try r.readLittleEndian()
    let nameBytes = try r.readBytes(Int(nameLength))
    // Names are UTF-8 when flag bit 11 is set and CP437 otherwise; non-ASCII CP437 names do not occur in
    // checkpoints, so decoding as UTF-8 with replacement is enough to match them.
    let name = String(decoding: nameBytes, as: UTF8.self)
    var extra = try r.subReader(Int(extraLength))
    try r.skip(Int(commentLength))
    if flags & 1 != 0 {
      throw GraftError(.unsupported, "member '\(name)' is encrypted", file: file, byteOffset: start)
    }
    var compressed = UInt64(compressed32)
    var uncompressed = UInt64(uncompressed32)
    var local = UInt64(local32)
    while extra.remaining >= 4 {
      let id: UInt16 = try extra.readLittleEndian()
      let size: UInt16 = try extra.readLittleEndian()
      var field = try extra.subReader(Int(size))
      guard id == 0x0001 else { continue }
      // The zip64 field holds only the values whose 32-bit slots are saturated, in this order.
      if uncompressed32 == 0xFFFF_FFFF { uncompressed = try field.readLittleEndian() }
      if compressed32 == 0xFFFF_FFFF { compressed = try field.readLittleEndian() }
      if local32 == 0xFFFF_FFFF { local = try field.readLittleEndian() }
    }
    guard let compressedSize = Int(exactly: compressed), let uncompressedSize = Int(exactly: uncompressed),
      let localOffset = Int(exactly: local)
    else {
      throw GraftError(.overflow, "member '\(name)' has sizes beyond Int", file: file, byteOffset: start)
    }
    if method == 0 && compressedSize != uncompressedSize {
      throw GraftError(
        .invalidHeader,
        "stored member '\(name)' has compressed size \(compressedSize) but uncompressed size \(uncompressedSize)",
        file: file, byteOffset: start)
    }
    // The data starts after the *local* header's own name and extra field, which may differ from the central ones
    // (torch pads the local extra field to align data to 64 bytes).
    guard let localEnd = Checked.add(localOffset, 30), localEnd <= fileBytes.count else {
      throw GraftError(
        .truncated, "member '\(name)' has its local header at \(localOffset), beyond the end of the file", file: file,
        byteOffset: start)
    }
    var l = ByteReader(
      UnsafeRawBufferPointer(rebasing: fileBytes[localOffset..<localEnd]), baseOffset: localOffset, file: file)
    guard try l.readLittleEndian(UInt32.self) == 0x0403_4B50 else {
      throw GraftError(
        .invalidHeader, "member '\(name)': expected a local file header (PK\\3\\4)", file: file,
        byteOffset: localOffset)
    }
    try l.skip(22)
    let localName: UInt16 = try l.readLittleEndian()
    let localExtra: UInt16 = try l.readLittleEndian()
    let dataOffset = localEnd + Int(localName) + Int(localExtra)
    guard let dataEnd = Checked.add(dataOffset, compressedSize), dataEnd <= fileBytes.count else {
      throw GraftError(
        .truncated,
        "member '\(name)' declares \(compressedSize) bytes at offset \(dataOffset) but the file has only "
          + "\(fileBytes.count) bytes",
        file: file, byteOffset: dataOffset)
    }
    return Entry(
      name: name, method: method, flags: flags, crc32: crc, compressedSize: compressedSize,
      uncompressedSize: uncompressedSize, localHeaderOffset: localOffset, dataOffset: dataOffset)
  }

  /// Overlapping members are how non-recursive zip bombs reuse one compressed stream many times.
  private static func checkNoOverlap(_ entries: [Entry], file: String) throws(GraftError) {
    let sorted = entries.sorted { $0.localHeaderOffset < $1.localHeaderOffset }
    for (a, b) in zip(sorted, sorted.dropFirst()) where a.dataOffset + a.compressedSize > b.localHeaderOffset {
      throw GraftError(
        .invalidHeader, "members '\(a.name)' and '\(b.name)' overlap (a zip-bomb construction)", file: file,
        byteOffset: b.localHeaderOffset)
    }
  }
}

func hexCRC(_ v: UInt32) -> String {
  let digits = String(v, radix: 16)
  return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
}
