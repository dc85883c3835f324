import GraftCore

/// The validated structure of a `.graft` file: everything but the tensor bytes.
struct GraftFileHeader: Sendable {
  var major: Int
  var minor: Int
  var fileSize: Int
  var indexOffset: Int
  var indexLength: Int
  var headerChecksum: UInt64
  var entries: [GraftFileEntry]
  var metadata: JSONObject
  var lineage: [LineageRecord]
  var contentDigest: String

  /// Parses and validates the preamble, trailer, header checksum and index of a whole file.
  ///
  /// Checks run from the outside in: magic, version, trailer, lengths, header checksum, and only then the JSON, so
  /// that the JSON parser never sees bytes the checksum has not vouched for.
  static func parse(_ bytes: UnsafeRawBufferPointer, file: String) throws(GraftError) -> GraftFileHeader {
    let count = bytes.count
    let magic = GraftFile.magic
    if count < magic.count || !zip(magic, bytes).allSatisfy({ $0 == $1 }) {
      let isPrefix = count < magic.count && zip(magic, bytes).allSatisfy { $0 == $1 }
      if isPrefix {
        throw GraftError(
          .truncated, "the file ends inside the \(magic.count)-byte magic", file: file, byteOffset: count)
      }
      throw GraftError(
        .unrecognizedFormat, "expected the .graft magic 47 52 41 46 54 89 0D 0A ('GRAFT\\x89\\r\\n') at the start",
        file: file, byteOffset: 0)
    }
    guard count >= GraftFileLayout.preambleSize + GraftFileLayout.trailerSize else {
      throw GraftError(
        .truncated,
        "a .graft file is at least \(GraftFileLayout.preambleSize + GraftFileLayout.trailerSize) bytes "
          + "(preamble and trailer) but this one has \(count)", file: file, byteOffset: count)
    }
    var reader = ByteReader(bytes, file: file)
    try reader.seek(to: 8)
    let major = Int(try reader.readLittleEndian(UInt16.self))
    let minor = Int(try reader.readLittleEndian(UInt16.self))
    guard major <= GraftFile.majorVersion else {
      throw GraftError(
        .unsupported,
        "the file is format version \(major).\(minor), newer than the \(GraftFile.majorVersion).x this Graft reads; "
          + "upgrade Graft to read it", file: file, byteOffset: 8)
    }
    guard major >= 1 else {
      throw GraftError(.invalidHeader, "format major version 0 does not exist; expected 1", file: file, byteOffset: 8)
    }

    let trailerStart = count - GraftFileLayout.trailerSize
    let endMagicStart = count - GraftFileLayout.endMagic.count
    for (k, b) in GraftFileLayout.endMagic.enumerated() where bytes[endMagicStart + k] != b {
      throw GraftError(
        .truncated,
        "the file does not end with the trailer magic 'GRAFTEND': it is truncated or was not completely written",
        file: file, byteOffset: endMagicStart + k)
    }
    try reader.seek(to: trailerStart)
    let rawIndexOffset = try reader.readLittleEndian(UInt64.self)
    let rawIndexLength = try reader.readLittleEndian(UInt64.self)
    let storedChecksum = try reader.readLittleEndian(UInt64.self)
    guard rawIndexLength <= UInt64(GraftFileLayout.maximumIndexLength) else {
      throw GraftError(
        .limitExceeded,
        "the index is \(rawIndexLength) bytes, more than the \(GraftFileLayout.maximumIndexLength)-byte cap",
        file: file, byteOffset: trailerStart + 8)
    }
    let indexLength = Int(rawIndexLength)
    guard rawIndexOffset <= UInt64(trailerStart), Int(rawIndexOffset) + indexLength == trailerStart else {
      throw GraftError(
        .invalidHeader,
        "the trailer says the index is \(rawIndexLength) bytes at offset \(rawIndexOffset), but the index must end "
          + "where the trailer starts (\(trailerStart)) in this \(count)-byte file", file: file,
        byteOffset: trailerStart)
    }
    let indexOffset = Int(rawIndexOffset)
    guard indexOffset >= GraftFileLayout.preambleSize, indexOffset % GraftFileLayout.alignment == 0 else {
      throw GraftError(
        .invalidHeader,
        "the index offset \(indexOffset) must be a multiple of \(GraftFileLayout.alignment) and at least "
          + "\(GraftFileLayout.preambleSize)", file: file, byteOffset: trailerStart)
    }
    let computed = headerChecksum(
      preamble: UnsafeRawBufferPointer(rebasing: bytes[0..<GraftFileLayout.preambleSize]),
      index: UnsafeRawBufferPointer(rebasing: bytes[indexOffset..<trailerStart]),
      trailer: UnsafeRawBufferPointer(rebasing: bytes[trailerStart..<(trailerStart + 16)]))
    guard computed == storedChecksum else {
      throw GraftError(
        .checksumMismatch,
        "the header checksum is \(XXHash64.format(storedChecksum)) but the preamble, index and trailer hash to "
          + "\(XXHash64.format(computed)): the header is corrupted", file: file, byteOffset: trailerStart + 16)
    }

    var options = JSONParser.Options()
    options.duplicateKeys = .keepLast
    let index = UnsafeRawBufferPointer(rebasing: bytes[indexOffset..<trailerStart])
    let json = try JSONParser.parse(index, baseOffset: indexOffset, file: file, options: options)
    var parser = GraftFileIndexParser(index: index, indexOffset: indexOffset, file: file)
    return try parser.parse(
      json, major: major, minor: minor, fileSize: count, indexLength: indexLength, checksum: storedChecksum)
  }

  /// XXH64 (seed 0) of the preamble, the index and the first 16 trailer bytes, in that order.
  static func headerChecksum(
    preamble: UnsafeRawBufferPointer, index: UnsafeRawBufferPointer, trailer: UnsafeRawBufferPointer
  ) -> UInt64 {
    var h = XXHash64()
    h.update(preamble)
    h.update(index)
    h.update(trailer)
    return h.finalize()
  }
}
