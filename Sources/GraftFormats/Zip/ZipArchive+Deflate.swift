import CZlib
import GraftCore
import Synchronization

/// A running CRC-32 (the zip polynomial), computed by zlib.
public struct CRC32: Sendable {
  /// The checksum of the bytes seen so far.
  public private(set) var value: UInt32 = 0

  /// Creates a checksum of no bytes.
  public init() {}

  /// Adds bytes to the checksum.
  public mutating func update(_ bytes: UnsafeRawBufferPointer) {
    guard var p = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
    var remaining = bytes.count
    var c = UInt(value)
    // zlib's length argument is 32-bit; feed large buffers in pieces.
    while remaining > 0 {
      let n = min(remaining, 1 << 30)
      c = crc32(c, p, UInt32(n))
      p += n
      remaining -= n
    }
    value = UInt32(truncatingIfNeeded: c)
  }

  /// The checksum of one buffer.
  public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
    var c = CRC32()
    c.update(bytes)
    return c.value
  }
}

/// A DEFLATE member, inflated into memory on first access and checked against its size and CRC-32.
final class InflatedMember: TensorByteSource, @unchecked Sendable {
  // Invariant: `cache` is the only mutable state and is guarded by its mutex.
  let region: MappedRegion
  let entry: ZipArchive.Entry
  let maxRatio: Int
  let maxBytes: Int
  private let cache = Mutex<HeapBytes?>(nil)

  init(region: MappedRegion, entry: ZipArchive.Entry, limits: ZipArchive.Limits = .init()) {
    self.region = region
    self.entry = entry
    self.maxRatio = limits.maxCompressionRatio
    self.maxBytes = limits.maxInflatedBytes
  }

  var byteCount: Int { entry.uncompressedSize }
  var contiguousBytes: UnsafeRawBufferPointer? { nil }

  func copyBytes(in range: Range<Int>, into buffer: UnsafeMutableRawBufferPointer) throws {
    let data = try inflated()
    try data.copyBytes(in: range, into: buffer)
  }

  private func inflated() throws(GraftError) -> HeapBytes {
    if let done = cache.withLock({ $0 }) { return done }
    let data = try InflatedMember.inflate(region: region, entry: entry, maxRatio: maxRatio, maxBytes: maxBytes)
    cache.withLock { $0 = data }
    return data
  }

  static func inflate(
    region: MappedRegion, entry: ZipArchive.Entry, maxRatio: Int, maxBytes: Int
  ) throws(GraftError)
    -> HeapBytes
  {
    let file = region.path
    let declared = entry.uncompressedSize
    guard declared <= maxBytes else {
      throw GraftError(
        .limitExceeded,
        "member '\(entry.name)' declares \(declared) inflated bytes; the cap is \(maxBytes)", file: file,
        byteOffset: entry.localHeaderOffset)
    }
    guard declared <= max(entry.compressedSize, 1) * maxRatio else {
      throw GraftError(
        .limitExceeded,
        "member '\(entry.name)' declares a compression ratio of \(declared / max(entry.compressedSize, 1)):1; "
          + "the cap is \(maxRatio):1 (DEFLATE cannot exceed about 1032:1, so this is a zip bomb or a corrupt header)",
        file: file, byteOffset: entry.localHeaderOffset)
    }
    let input = region.bytes(in: entry.dataOffset..<(entry.dataOffset + entry.compressedSize))
    var failure: GraftError?
    let heap = HeapBytes(count: declared) { out in
      var stream = z_stream()
      guard inflateInit2_(&stream, -15, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
        failure = GraftError(.io, "zlib could not initialise an inflater", file: file)
        return
      }
      defer { inflateEnd(&stream) }
      var consumed = 0
      var produced = 0
      var status = Z_OK
      // Output never exceeds the declared size: the buffer is exactly that long, and data beyond it is an error.
      while status == Z_OK {
        let inChunk = min(input.count - consumed, 1 << 30)
        let outChunk = min(out.count - produced, 1 << 30)
        stream.next_in = UnsafeMutablePointer(
          mutating: input.baseAddress?.assumingMemoryBound(to: UInt8.self).advanced(by: consumed))
        stream.avail_in = UInt32(inChunk)
        var spare: UInt8 = 0
        if outChunk > 0 {
          stream.next_out = out.baseAddress?.assumingMemoryBound(to: UInt8.self).advanced(by: produced)
          stream.avail_out = UInt32(outChunk)
        } else {
          // A one-byte probe detects streams that would produce more than declared.
          stream.next_out = withUnsafeMutablePointer(to: &spare) { $0 }
          stream.avail_out = 1
        }
        status = CZlib.inflate(&stream, Z_NO_FLUSH)
        let usedIn = inChunk - Int(stream.avail_in)
        let usedOut = (outChunk > 0 ? outChunk : 1) - Int(stream.avail_out)
        consumed += usedIn
        if outChunk == 0 && usedOut > 0 {
          failure = GraftError(
            .limitExceeded,
            "member '\(entry.name)' inflates to more than its declared \(declared) bytes", file: file,
            byteOffset: entry.dataOffset + consumed)
          return
        }
        produced += usedOut
        if status == Z_BUF_ERROR && usedIn == 0 && usedOut == 0 {
          failure = GraftError(
            .truncated, "member '\(entry.name)': the DEFLATE stream ends early after \(produced) bytes", file: file,
            byteOffset: entry.dataOffset + consumed)
          return
        }
        if status == Z_BUF_ERROR { status = Z_OK }
      }
      guard status == Z_STREAM_END else {
        failure = GraftError(
          .invalidHeader, "member '\(entry.name)': corrupt DEFLATE data (zlib status \(status))", file: file,
          byteOffset: entry.dataOffset + consumed)
        return
      }
      guard produced == declared else {
        failure = GraftError(
          .truncated, "member '\(entry.name)' inflates to \(produced) bytes but declares \(declared)", file: file,
          byteOffset: entry.dataOffset)
        return
      }
      let crc = CRC32.checksum(UnsafeRawBufferPointer(out))
      if crc != entry.crc32 {
        failure = GraftError(
          .checksumMismatch,
          "member '\(entry.name)' has CRC-32 \(hexCRC(crc)) but the central directory records \(hexCRC(entry.crc32))",
          file: file, byteOffset: entry.dataOffset)
      }
    }
    if let failure { throw failure }
    return heap
  }
}
