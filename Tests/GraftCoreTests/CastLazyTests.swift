import GraftCore
import TestSupport
import Testing

/// Reads a tensor's bytes through `copyBytes` in pieces of the given sizes (cycling), to exercise unaligned ranges.
func readInPieces(_ tensor: Tensor, sizes: [Int]) throws -> [UInt8] {
  var out = [UInt8](repeating: 0, count: tensor.byteCount)
  var start = 0
  var k = 0
  while start < tensor.byteCount {
    let end = min(tensor.byteCount, start + sizes[k % sizes.count])
    try out.withUnsafeMutableBytes { buffer in
      try tensor.bytes.copyBytes(in: start..<end, into: UnsafeMutableRawBufferPointer(rebasing: buffer[start..<end]))
    }
    start = end
    k += 1
  }
  return out
}

/// A source that is not addressable in place, so the lazy cast has to copy the bytes it reads.
func producedCopy(of bytes: [UInt8]) -> ProducedBytes {
  ProducedBytes(byteCount: bytes.count) { range, buffer in
    bytes.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[range])) }
  }
}

@Suite("Lazy casts")
struct CastLazyTests {
  /// Random floats with a few specials, so reports have something to count.
  static func sample(_ count: Int, seed: UInt64) -> [Float] {
    var rng = SplitMix64(seed: seed)
    var xs = rng.floats(count, scale: 8)
    for i in stride(from: 7, to: count, by: 97) { xs[i] = [Float.nan, .infinity, 1e6, 1e-9][i % 4] }
    return xs
  }

  @Test(
    "any byte tiling gives the eager bytes and reports every element once",
    arguments: [DType.bfloat16, .float16, .float8E4M3, .float4E2M1, .float64, .int16])
  func tilings(target: DType) throws {
    let input = Self.sample(1002, seed: 11)
    var eagerReport = CastReport()
    let eager = try castBytes(bytes(input), from: .float32, to: target, count: input.count, report: &eagerReport)
    for (label, source) in [
      ("heap", HeapBytes(bytes(input)) as any TensorByteSource), ("produced", producedCopy(of: bytes(input))),
    ] {
      for sizes in [[1], [3, 5, 7], [13], [4096], [2, 1, 8, 11]] {
        let tensor = Tensor(dtype: .float32, shape: [2, 501], bytes: source)
        let collector = CastReportCollector()
        let lazy = try Cast.lazily(tensor, to: target, options: CastOptions(), collector: collector)
        #expect(lazy.dtype == target && lazy.shape == [2, 501])
        let got = try readInPieces(lazy, sizes: sizes)
        let same = got == eager
        #expect(same, "\(label) source, pieces \(sizes)")
        #expect(collector.report == eagerReport, "\(label) source, pieces \(sizes)")
      }
    }
  }

  @Test("F4 sources read at odd element offsets", arguments: [DType.float32, .bfloat16, .float8E5M2])
  func float4Source(target: DType) throws {
    var rng = SplitMix64(seed: 5)
    let packed = (0..<301).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    var eagerReport = CastReport()
    let eager = try castBytes(packed, from: .float4E2M1, to: target, count: 602, report: &eagerReport)
    for sizes in [[1], [3], [target.bitWidth / 8 * 3], [5, 2, 9]] {
      let collector = CastReportCollector()
      let tensor = Tensor(dtype: .float4E2M1, shape: [602], bytes: producedCopy(of: packed))
      let lazy = try Cast.lazily(tensor, to: target, options: CastOptions(), collector: collector)
      let got = try readInPieces(lazy, sizes: sizes)
      let same = got == eager
      #expect(same, "pieces \(sizes)")
      #expect(collector.report.elementCount == 602)
    }
  }

  @Test("more elements than one conversion chunk")
  func largeTensor() throws {
    let input = Self.sample(70_001, seed: 3)
    var eagerReport = CastReport()
    let eager = try castBytes(bytes(input), from: .float32, to: .bfloat16, count: input.count, report: &eagerReport)
    let collector = CastReportCollector()
    let tensor = Tensor(dtype: .float32, shape: [input.count], bytes: HeapBytes(bytes(input)))
    let lazy = try Cast.lazily(tensor, to: .bfloat16, options: CastOptions(), collector: collector)
    let got = try lazy.readAllBytes()
    #expect(got == eager)
    #expect(collector.report == eagerReport)
    #expect(collector.report.nanCount > 0 && collector.report.overflowCount == 0)
  }

  @Test("same dtype is returned unchanged; bad shapes throw")
  func edges() throws {
    let tensor = Tensor(float32: [1, 2, 3], shape: [3])
    let collector = CastReportCollector()
    let same = try Cast.lazily(tensor, to: .float32, options: CastOptions(), collector: collector)
    #expect(same.bytes === tensor.bytes)
    #expect(throws: GraftError.self) {
      _ = try Cast.lazily(tensor, to: .float4E2M1, options: CastOptions(), collector: collector)
    }
    let lying = Tensor(dtype: .float32, shape: [4], bytes: tensor.bytes)
    #expect(throws: GraftError.self) {
      _ = try Cast.lazily(lying, to: .float16, options: CastOptions(), collector: collector)
    }
    #expect(throws: GraftError.self) {
      _ = try Cast.lazily(tensor, to: .complex64, options: CastOptions(), collector: collector)
    }
  }
}
