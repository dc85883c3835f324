import GraftCore
import GraftFormats
import TestSupport
import Testing

/// Views (`size`, `stride`, `storage_offset`) gathered from a storage, against a per-element reference.
@Suite("Strided views: every element width, broadcast and stepped strides, any byte range")
struct StridedViewTests {
  struct Case: Sendable, CustomTestStringConvertible {
    var shape: [Int]
    var strides: [Int]
    var offset: Int
    var testDescription: String { "size \(shape) stride \(strides) offset \(offset)" }
  }

  static let cases = [
    Case(shape: [3, 4], strides: [1, 3], offset: 0),  // a transpose
    Case(shape: [5, 7], strides: [0, 1], offset: 2),  // broadcast rows
    Case(shape: [4, 9], strides: [1, 0], offset: 1),  // broadcast inner dimension (expand)
    Case(shape: [2, 3, 5], strides: [0, 2, 0], offset: 3),
    Case(shape: [6], strides: [3], offset: 4),  // a stepped slice
    Case(shape: [37], strides: [0], offset: 5),  // one element repeated (odd count: doubling must stop exactly)
    Case(shape: [2, 2, 3], strides: [7, 1, 2], offset: 0),
  ]

  /// The expected bytes, element by element.
  static func reference(_ storage: [UInt8], width: Int, _ c: Case) -> [UInt8] {
    let count = c.shape.reduce(1, *)
    var out: [UInt8] = []
    for flat in 0..<count {
      var rest = flat
      var source = c.offset
      for d in stride(from: c.shape.count - 1, through: 0, by: -1) {
        source += (rest % c.shape[d]) * c.strides[d]
        rest /= c.shape[d]
      }
      out += storage[(source * width)..<((source + 1) * width)]
    }
    return out
  }

  @Test(
    "gathers equal the reference for mapped-like and produced storages, whole and in odd byte ranges",
    arguments: [DType.uint8, .float16, .float32, .float64, .complex128])
  func gather(dtype: DType) throws {
    let width = try #require(dtype.byteWidth)
    let storageBytes = (0..<(64 * width)).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
    let direct = storageBytes.withUnsafeBytes { HeapBytes(copying: $0) }
    // The same bytes without `contiguousBytes`, so the gather goes through `copyBytes`.
    let produced = ProducedBytes(byteCount: storageBytes.count) { range, buffer in
      storageBytes.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[range])) }
    }
    for c in Self.cases {
      let expected = Self.reference(storageBytes, width: width, c)
      for storage in [direct as any TensorByteSource, produced] {
        let tensor = try StridedView.tensor(
          storage: storage, dtype: dtype, shape: c.shape, strides: c.strides, offset: c.offset)
        #expect(try tensor.readAllBytes() == expected, "\(c.testDescription)")
        // A range cutting elements on both sides.
        if expected.count > 3 {
          let range = 1..<(expected.count - 2)
          var part = [UInt8](repeating: 0, count: range.count)
          try part.withUnsafeMutableBytes { try tensor.bytes.copyBytes(in: range, into: $0) }
          #expect(part == Array(expected[range]), "\(c.testDescription) bytes \(range)")
        }
      }
    }
  }
}
