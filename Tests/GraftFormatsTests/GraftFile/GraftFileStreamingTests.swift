import GraftCore
import GraftFormats
import Synchronization
import TestSupport
import Testing

/// A producer that fails when asked for more than 8 MiB at once or for its bytes in place.
final class ChunkLimitedSource: TensorByteSource {
  let byteCount: Int
  let largestRequest = Atomic<Int>(0)
  let inPlaceRequests = Atomic<Int>(0)

  init(byteCount: Int) { self.byteCount = byteCount }

  var contiguousBytes: UnsafeRawBufferPointer? {
    inPlaceRequests.add(1, ordering: .relaxed)
    return nil
  }

  struct TooLarge: Error {}

  func copyBytes(in range: Range<Int>, into buffer: UnsafeMutableRawBufferPointer) throws {
    largestRequest.max(range.count, ordering: .relaxed)
    if range.count > 8 << 20 { throw TooLarge() }
    // Float-like words whose high bytes change slowly, so that shuffling plus deflate has something to find.
    guard let base = buffer.baseAddress else { return }
    for k in 0..<range.count {
      let i = range.lowerBound + k
      let word = UInt32(truncatingIfNeeded: i >> 8) &+ 0x3F80_0000
      base.storeBytes(of: UInt8(truncatingIfNeeded: word >> UInt32((i % 4) * 8)), toByteOffset: k, as: UInt8.self)
    }
  }
}

@Suite("Native .graft streaming")
struct GraftFileStreamingTests {
  @Test("a 64 MiB produced tensor streams in chunks of at most 8 MiB, never in place", arguments: [false, true])
  func boundedChunks(compressed: Bool) throws {
    let size = compressed ? 16 << 20 : 64 << 20
    let source = ChunkLimitedSource(byteCount: size)
    var table = TensorTable()
    try table.append("big", Tensor(dtype: .float32, shape: [size / 4], bytes: source))
    try table.append("small", GraftFileFixtures.tensor(.int16, [7], seed: 3))
    var options = GraftFile.WriteOptions()
    if compressed { options.compression = .deflate(level: 1) }
    let progress = ProgressCounter()
    let path = try TestPaths.scratchFolder("stream") + "/big.graft"
    let summary = try GraftFile.write(table, to: path, options: options, progress: progress)
    #expect(source.largestRequest.load(ordering: .relaxed) <= 8 << 20)
    #expect(source.largestRequest.load(ordering: .relaxed) > 0)
    #expect(progress.snapshot.done == size + 14)
    #expect(progress.snapshot.total == size + 14)
    #expect(summary.bytesWritten == (try FileSystem.size(of: path)))
    let back = try GraftFile.read(path: path)
    #expect(try back.contentDigest() == table.contentDigest())
    #expect(try GraftFile.verify(path: path).isValid)
  }

  @Test("a table of mapped tensors is written without a staging buffer (1.2 MB: copied and hashed in parallel)")
  func mappedInput() throws {
    let folder = try TestPaths.scratchFolder("stream")
    var table = TensorTable()
    try table.append("a", GraftFileFixtures.tensor(.float32, [300_000], seed: 1))
    try table.append("b", GraftFileFixtures.tensor(.bfloat16, [9, 9], seed: 2))
    try GraftFile.write(table, to: folder + "/one.graft")
    let mapped = try GraftFile.read(path: folder + "/one.graft")
    try GraftFile.write(mapped, to: folder + "/two.graft", inputs: [folder + "/one.graft"])
    #expect(try FileSystem.readAll(folder + "/one.graft") == FileSystem.readAll(folder + "/two.graft"))
  }
}
