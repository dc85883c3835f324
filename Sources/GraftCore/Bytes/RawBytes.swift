/// Byte-level helpers shared by the checks that compare tensors without decoding them.
public enum RawBytes {
  /// Whether two buffers hold the same bytes, compared eight at a time (a byte-wise `elementsEqual` is several times
  /// slower).
  public static func equal(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    guard a.count == b.count else { return false }
    var i = 0
    while i + 8 <= a.count {
      if a.loadUnaligned(fromByteOffset: i, as: UInt64.self) != b.loadUnaligned(fromByteOffset: i, as: UInt64.self) {
        return false
      }
      i += 8
    }
    while i < a.count {
      if a[i] != b[i] { return false }
      i += 1
    }
    return true
  }

  /// The elements at `rows` × `columns` of a row-major matrix of `rowLength` elements of `size` bytes per row, in
  /// that order: a slice of rows (`columns` all of a row), of columns, or both.
  public static func submatrix(
    _ source: UnsafeRawBufferPointer, rows: [Int], columns: [Int], rowLength: Int, size: Int
  ) -> [UInt8] {
    let count = rows.count * columns.count * size
    return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
      initialized = gather(
        source, rows: rows, columns: columns, rowLength: rowLength, size: size,
        into: UnsafeMutableRawBufferPointer(buffer))
    }
  }

  /// Writes the elements at `rows` × `columns` (see ``submatrix(_:rows:columns:rowLength:size:)``) to the start of
  /// `out` and returns how many bytes that took.
  ///
  /// Whole rows are copied in one piece; other elements one by one as fixed-width loads for 2-, 4- and 8-byte
  /// elements (per-element `memcpy` calls dominated MoE recycling and its slicing check on ViT-B).
  @discardableResult
  public static func gather(
    _ source: UnsafeRawBufferPointer, rows: some Sequence<Int>, columns: [Int], rowLength: Int, size: Int,
    into out: UnsafeMutableRawBufferPointer
  ) -> Int {
    let wholeRows = columns.count == rowLength && columns.elementsEqual(0..<rowLength)
    let rowBytes = rowLength * size
    var at = 0
    for r in rows {
      if wholeRows {
        UnsafeMutableRawBufferPointer(rebasing: out[at..<(at + rowBytes)])
          .copyMemory(from: UnsafeRawBufferPointer(rebasing: source[(r * rowBytes)..<((r + 1) * rowBytes)]))
        at += rowBytes
        continue
      }
      let rowStart = r * rowBytes
      switch size {
      case 2: at = move(UInt16.self, source, rowStart, columns, out, at)
      case 4: at = move(UInt32.self, source, rowStart, columns, out, at)
      case 8: at = move(UInt64.self, source, rowStart, columns, out, at)
      default:
        for c in columns {
          UnsafeMutableRawBufferPointer(rebasing: out[at..<(at + size)])
            .copyMemory(
              from: UnsafeRawBufferPointer(rebasing: source[(rowStart + c * size)..<(rowStart + (c + 1) * size)]))
          at += size
        }
      }
    }
    return at
  }

  private static func move<Word: FixedWidthInteger>(
    _: Word.Type, _ source: UnsafeRawBufferPointer, _ rowStart: Int, _ columns: [Int],
    _ out: UnsafeMutableRawBufferPointer, _ start: Int
  ) -> Int {
    var at = start
    for c in columns {
      out.storeBytes(
        of: source.loadUnaligned(fromByteOffset: rowStart + c * MemoryLayout<Word>.size, as: Word.self),
        toByteOffset: at, as: Word.self)
      at += MemoryLayout<Word>.size
    }
    return at
  }
}
