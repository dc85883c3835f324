import CZlib
import GraftCore

/// The byte shuffle and zlib streams of deflated `.graft` blocks (`Formats/graft.md` §8).
enum GraftFileBlockCodec {
  /// Writes byte `j` of element `i` of `source` to `destination[j * n + i]`, grouping equal-significance bytes.
  ///
  /// Exponent and sign bytes of floats vary little between neighbours, so grouping them gives deflate long runs;
  /// this is what makes weights compress at all.
  static func shuffle(_ source: UnsafeRawBufferPointer, width: Int, into destination: UnsafeMutableRawBufferPointer) {
    regroup(source, width: width, into: destination, shuffling: true)
  }

  /// Inverts ``shuffle(_:width:into:)``.
  static func unshuffle(_ source: UnsafeRawBufferPointer, width: Int, into destination: UnsafeMutableRawBufferPointer) {
    regroup(source, width: width, into: destination, shuffling: false)
  }

  /// Both directions in one loop.
  ///
  /// Byte `j` of element `i` is at `i * width + j` interleaved and at `j * n + i` grouped. The outer loop runs over
  /// the (few) byte positions, so the long inner loop walks the grouped side contiguously either way.
  @inline(__always)
  private static func regroup(
    _ source: UnsafeRawBufferPointer, width: Int, into destination: UnsafeMutableRawBufferPointer, shuffling: Bool
  ) {
    precondition(source.count == destination.count && source.count % width == 0)
    guard let s = source.baseAddress, let d = destination.baseAddress else { return }
    let n = source.count / width
    for j in 0..<width {
      for i in 0..<n {
        let interleaved = i &* width &+ j
        let grouped = j &* n &+ i
        let (from, to) = shuffling ? (interleaved, grouped) : (grouped, interleaved)
        d.storeBytes(of: s.load(fromByteOffset: from, as: UInt8.self), toByteOffset: to, as: UInt8.self)
      }
    }
  }
}

/// A zlib deflate stream reused across blocks (`deflateReset` between them).
///
/// A class because zlib keeps a pointer back to the `z_stream`, which therefore must not move.
final class GraftFileDeflater {
  private let stream: UnsafeMutablePointer<z_stream>
  /// The compression level, 0 to 9.
  let level: Int

  /// Creates a stream at `level` (0 to 9).
  init(level: Int, file: String) throws(GraftError) {
    guard (0...9).contains(level) else {
      throw GraftError(.invalidArgument, "deflate level \(level) is not in 0...9", file: file)
    }
    self.level = level
    stream = .allocate(capacity: 1)
    stream.initialize(to: z_stream())
    let status = deflateInit2_(
      stream, Int32(level), Z_DEFLATED, MAX_WBITS, 8, Z_DEFAULT_STRATEGY, zlibVersion(),
      Int32(MemoryLayout<z_stream>.size))
    guard status == Z_OK else {
      stream.deallocate()
      throw GraftError(.io, "zlib deflateInit2 failed with status \(status)", file: file)
    }
  }

  deinit {
    deflateEnd(stream)
    stream.deallocate()
  }

  /// Compresses `source` into `destination` as one zlib stream; `nil` when the result would not be smaller.
  ///
  /// `destination` is `source.count - 1` bytes at most: a block that does not shrink is stored raw, so deflate
  /// gives up as soon as it runs out of room instead of finishing an output nobody will keep.
  func compress(
    _ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer
  ) throws(GraftError) -> Int? {
    guard source.count > 1, let src = source.baseAddress, let dst = destination.baseAddress else { return nil }
    guard deflateReset(stream) == Z_OK else { throw GraftError(.io, "zlib deflateReset failed") }
    stream.pointee.next_in = UnsafeMutablePointer(mutating: src.assumingMemoryBound(to: UInt8.self))
    stream.pointee.avail_in = UInt32(source.count)
    stream.pointee.next_out = dst.assumingMemoryBound(to: UInt8.self)
    stream.pointee.avail_out = UInt32(min(destination.count, source.count - 1))
    let status = deflate(stream, Z_FINISH)
    switch status {
    case Z_STREAM_END: return Int(stream.pointee.total_out)
    case Z_OK, Z_BUF_ERROR: return nil
    default: throw GraftError(.io, "zlib deflate failed with status \(status)")
    }
  }
}

/// A zlib inflate stream reused across blocks (`inflateReset` between them).
final class GraftFileInflater {
  private let stream: UnsafeMutablePointer<z_stream>

  /// Creates a stream.
  init() throws(GraftError) {
    stream = .allocate(capacity: 1)
    stream.initialize(to: z_stream())
    let status = inflateInit_(stream, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
    guard status == Z_OK else {
      stream.deallocate()
      throw GraftError(.io, "zlib inflateInit failed with status \(status)")
    }
  }

  deinit {
    inflateEnd(stream)
    stream.deallocate()
  }

  /// Decompresses one zlib stream that must fill `destination` exactly and use up all of `source`.
  ///
  /// Output never exceeds `destination.count`, the size the index declares, so a forged stream cannot make the
  /// reader allocate or write more (zip-bomb safe).
  /// - Throws: `invalidTensorInfo` for a stream that is corrupt, too long or too short; the caller adds context.
  func decompress(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer) throws(GraftError)
  {
    guard let src = source.baseAddress, let dst = destination.baseAddress else {
      throw GraftError(.invalidTensorInfo, "an empty deflate block")
    }
    guard inflateReset(stream) == Z_OK else { throw GraftError(.io, "zlib inflateReset failed") }
    stream.pointee.next_in = UnsafeMutablePointer(mutating: src.assumingMemoryBound(to: UInt8.self))
    stream.pointee.avail_in = UInt32(source.count)
    stream.pointee.next_out = dst.assumingMemoryBound(to: UInt8.self)
    stream.pointee.avail_out = UInt32(destination.count)
    let status = inflate(stream, Z_FINISH)
    let produced = Int(stream.pointee.total_out)
    let leftover = Int(stream.pointee.avail_in)
    switch status {
    case Z_STREAM_END:
      guard produced == destination.count else {
        throw GraftError(
          .invalidTensorInfo,
          "the deflate block decompresses to \(produced) bytes, fewer than the \(destination.count) declared")
      }
      guard leftover == 0 else {
        throw GraftError(.invalidTensorInfo, "the deflate block ends \(leftover) bytes before its declared length")
      }
    case Z_OK, Z_BUF_ERROR:
      if stream.pointee.avail_out == 0 {
        throw GraftError(
          .invalidTensorInfo, "the deflate block decompresses to more than the \(destination.count) bytes declared")
      }
      throw GraftError(.invalidTensorInfo, "the deflate block is truncated (its stream does not end)")
    default:
      let reason = stream.pointee.msg.map { String(cString: $0) } ?? "status \(status)"
      throw GraftError(.invalidTensorInfo, "the deflate block is corrupt: \(reason)")
    }
  }
}
