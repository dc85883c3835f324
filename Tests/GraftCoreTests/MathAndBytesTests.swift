import GraftCore
import Testing

@Suite("SplitMix64: one stream for every seeded draw")
struct SplitMix64Tests {
  @Test("matches the reference outputs for seed 0, and value(seed:index:) is the index-th output")
  func referenceOutputs() {
    var rng = SplitMix64(seed: 0)
    let outputs = (0..<3).map { _ in rng.next() }
    #expect(outputs == [0xE220_A839_7B1D_CDAF, 0x6E78_9E6A_A1B9_65F4, 0x06C4_5D18_8009_454F])
    #expect((0..<3).map { SplitMix64.value(seed: 0, index: UInt64($0)) } == outputs)
  }

  @Test("normal() is Box–Muller over openUniform then uniform; normalFloat rounds it")
  func boxMuller() {
    // Python: sqrt(-2 log u1) cos(2π u2) with u1 = ((x₁ >> 11) + 0.5) / 2⁵³, u2 = (x₂ >> 11) / 2⁵³, seed 7.
    var rng = SplitMix64(seed: 7)
    let z = rng.normal()
    // Elementary's log and cos are our own, not libm's: 1e-14 allows a few ulps of difference from Python's math.
    #expect(abs(z - 1.364_992_297_457_228_4) < 1e-14)
    var again = SplitMix64(seed: 7)
    #expect(again.normalFloat() == Float(z))
    var raw = SplitMix64(seed: 7)
    let u1 = (Double(raw.next() >> 11) + 0.5) / 9_007_199_254_740_992
    let u2 = Double(raw.next() >> 11) / 9_007_199_254_740_992
    #expect(z == (-2 * Elementary.log(u1)).squareRoot() * Elementary.sinCos(2 * Double.pi * u2).cos)
  }

  @Test("polar normals and the Irwin–Hall approximation have roughly unit variance")
  func normalLaws() {
    var rng = SplitMix64(seed: 3)
    let polar = rng.polarNormals(4001)
    #expect(polar.count == 4001)
    let v = polar.reduce(0) { $0 + $1 * $1 } / Double(polar.count)
    #expect(abs(v - 1) < 0.1)
    let approx = (0..<4000).map { _ in Double(rng.approximateNormalFloat()) }
    let va = approx.reduce(0) { $0 + $1 * $1 } / Double(approx.count)
    #expect(abs(va - 1) < 0.1)
    #expect(approx.allSatisfy { abs($0) < 3.47 })
  }

  @Test("permutation covers 0..<n once each; below stays in range")
  func permutationAndBelow() {
    var rng = SplitMix64(seed: 11)
    #expect(rng.permutation(50).sorted() == Array(0..<50))
    #expect(rng.permutation(0).isEmpty)
    #expect((0..<200).allSatisfy { _ in (0..<7).contains(rng.below(7)) })
    #expect(rng.below(0) == 0)
  }
}

@Suite("Strided-copy helpers")
struct StridedCopyHelperTests {
  @Test("RowMajorIndex walks a shape in C order from any element and gives offsets under strides")
  func rowMajorIndex() {
    var index = RowMajorIndex(shape: [2, 3])
    var seen: [[Int]] = []
    for _ in 0..<7 {
      seen.append(index.coordinates)
      index.advance()
    }
    #expect(seen == [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2], [0, 0]])
    let fromFour = RowMajorIndex(shape: [2, 3], element: 4)
    #expect(fromFour.coordinates == [1, 1])
    // Transposed strides of a [3, 2] source read as [2, 3]: element (1, 1) is source element 1·1 + 1·2 = 3.
    #expect(fromFour.offset(strides: [1, 2]) == 3)
  }

  @Test("reverseBytes swaps each whole element and leaves a trailing partial one")
  func reverseBytes() {
    var bytes: [UInt8] = [1, 2, 3, 4, 5, 6, 7]
    bytes.withUnsafeMutableBytes { $0.reverseBytes(ofElementsOfWidth: 2) }
    #expect(bytes == [2, 1, 4, 3, 6, 5, 7])
    bytes.withUnsafeMutableBytes { $0.reverseBytes(ofElementsOfWidth: 1) }
    #expect(bytes == [2, 1, 4, 3, 6, 5, 7])
  }
}
