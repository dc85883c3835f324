import GraftCore
import Testing

@Suite("Raw byte gathers and comparisons")
struct RawBytesTests {
  /// Every element width (the fixed-width paths 2, 4, 8 and the byte loop for 1 and 3), whole rows and column
  /// subsets in any order, against an element-by-element reference.
  @Test(arguments: [1, 2, 3, 4, 8])
  func submatrixMatchesElementByElement(size: Int) {
    let (rowCount, rowLength) = (5, 7)
    let source = (0..<(rowCount * rowLength * size)).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
    for (rows, columns) in [([4, 0, 2], [6, 1, 3]), ([1, 3], Array(0..<rowLength)), ([0], [])] {
      var expected: [UInt8] = []
      for r in rows {
        for c in columns { expected += source[((r * rowLength + c) * size)..<((r * rowLength + c + 1) * size)] }
      }
      let got = source.withUnsafeBytes {
        RawBytes.submatrix($0, rows: rows, columns: columns, rowLength: rowLength, size: size)
      }
      #expect(got == expected, "rows \(rows) columns \(columns)")
    }
  }

  @Test func equalFindsADifferenceInTheTail() {
    let a = [UInt8](repeating: 7, count: 19)
    var b = a
    #expect(a.withUnsafeBytes { x in b.withUnsafeBytes { RawBytes.equal(x, $0) } })
    b[18] = 8
    #expect(!a.withUnsafeBytes { x in b.withUnsafeBytes { RawBytes.equal(x, $0) } })
    b = a
    b[3] = 0
    #expect(!a.withUnsafeBytes { x in b.withUnsafeBytes { RawBytes.equal(x, $0) } })
    #expect(!a.withUnsafeBytes { x in b.dropLast().withUnsafeBytes { RawBytes.equal(x, $0) } })
  }
}
