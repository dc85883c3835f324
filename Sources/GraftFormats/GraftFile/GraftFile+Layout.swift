import GraftCore

/// Byte-level constants of format version 1 and the documented resource caps (`Formats/graft.md` §3 to §6 and §12).
enum GraftFileLayout {
  /// Every stored tensor, and the index, start at a multiple of this.
  static let alignment = 64
  /// The preamble: magic, version, reserved zeros.
  static let preambleSize = 64
  /// The trailer: index offset, index length, header checksum, end magic.
  static let trailerSize = 32
  /// The last eight bytes of every file.
  static let endMagic: [UInt8] = Array("GRAFTEND".utf8)
  /// The largest JSON index a reader accepts (the safetensors header cap).
  static let maximumIndexLength = 100_000_000
  /// The largest number of dimensions a reader accepts.
  static let maximumRank = 1024
  /// The uncompressed block size writers use.
  static let defaultBlockSize = 1 << 20
  /// Block sizes readers accept.
  static let blockSizeRange = 4096...(64 << 20)
  /// Deflate cannot expand data by more than about 1032:1, so a larger ratio is a forged block table.
  static let maximumDeflateRatio = 1032
  /// The chunk writers and verifiers move at a time; also the most a writer asks of a source at once.
  static let chunkSize = 8 << 20

  /// `value` rounded up to the alignment, or `nil` on overflow.
  static func aligned(_ value: Int) -> Int? {
    guard let sum = Checked.add(value, alignment - 1) else { return nil }
    return sum / alignment * alignment
  }

  /// The content digest of `GraftCore`'s ``TensorTable/contentDigest()``, from per-tensor XXH64 digests.
  ///
  /// Entries are taken in Swift `String` order of their names; each contributes its name, dtype, comma-joined shape
  /// and (for an alias) `=` and the target name, each followed by a zero byte, then the 8-byte little-endian
  /// XXH64 of its uncompressed bytes. Writers know every per-tensor digest once the data is streamed, so the
  /// digest needs no second pass.
  static func contentDigest(
    of entries: [(name: String, dtype: DType, shape: [Int], aliasOf: String?, digest: UInt64)]
  ) -> String {
    var h = XXHash64()
    for e in entries.sorted(by: { $0.name < $1.name }) {
      h.update(Array(e.name.utf8) + [0])
      h.update(Array(e.dtype.rawValue.utf8) + [0])
      h.update(Array(e.shape.map(String.init).joined(separator: ",").utf8) + [0])
      if let a = e.aliasOf { h.update(Array(("=" + a).utf8) + [0]) }
      withUnsafeBytes(of: e.digest.littleEndian) { h.update($0) }
    }
    return XXHash64.format(h.finalize())
  }

  /// `xxh64:` and 16 lowercase hex digits, parsed; `nil` for any other text.
  static func parseDigest(_ text: String) -> UInt64? {
    let prefix = "xxh64:"
    guard text.hasPrefix(prefix) else { return nil }
    let hex = text.dropFirst(prefix.count)
    guard hex.utf8.count == 16, hex.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) })
    else { return nil }
    return UInt64(hex, radix: 16)
  }
}

/// How a deflated tensor is laid out: independent zlib streams, one per block of uncompressed bytes.
struct GraftFileDeflateLayout: Sendable {
  /// The informational compression level the writer used.
  var level: Int
  /// The byte-shuffle width (the element size; 1 means no shuffle).
  var shuffle: Int
  /// The uncompressed size of every block but the last.
  var blockSize: Int
  /// The stored length of each block; a block stored at its uncompressed size is raw (neither shuffled nor deflated).
  var blockLengths: [Int]
  /// The offset of each block relative to the tensor's stored bytes.
  var blockStarts: [Int]
}

/// A tensor whose bytes are in the file.
struct GraftFileStoredTensor: Sendable {
  var dtype: DType
  var shape: [Int]
  /// The uncompressed size.
  var byteCount: Int
  /// The absolute offset of the stored bytes.
  var offset: Int
  var storedLength: Int
  /// XXH64 of the stored bytes.
  var checksum: UInt64
  /// XXH64 of the uncompressed bytes.
  var digest: UInt64
  var deflate: GraftFileDeflateLayout?

  var storedRange: Range<Int> { offset..<(offset + storedLength) }
}

/// One entry of the index, in table order.
struct GraftFileEntry: Sendable {
  var name: String
  /// For an alias, the position of its target in the entry list.
  var aliasTarget: Int?
  /// The stored tensor (for an alias, a copy of its target's).
  var stored: GraftFileStoredTensor
}

extension GraftFileStoredTensor {
  /// Stands in for an alias's tensor until its target is resolved.
  static let placeholder = GraftFileStoredTensor(
    dtype: .uint8, shape: [0], byteCount: 0, offset: 0, storedLength: 0, checksum: 0, digest: 0, deflate: nil)
}
