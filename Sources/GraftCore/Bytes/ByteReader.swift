/// A bounds-checked cursor over untrusted bytes, in the style of swift-binary-parsing's `ParserSpan`.
///
/// Every read checks the remaining length first and throws a ``GraftError`` carrying the absolute byte offset
/// (``baseOffset`` + position) and the file, so parsers never compute an out-of-range address. Integers always
/// state their byte order.
public struct ByteReader {
  /// The bytes being parsed.
  public let bytes: UnsafeRawBufferPointer
  /// The absolute offset of `bytes[0]` in the file, for error messages.
  public let baseOffset: Int
  /// The file being parsed, for error messages.
  public let file: String?
  /// The current position within `bytes`.
  public private(set) var position: Int = 0

  /// Creates a reader over `bytes`, which start at `baseOffset` in `file`.
  public init(_ bytes: UnsafeRawBufferPointer, baseOffset: Int = 0, file: String? = nil) {
    self.bytes = bytes
    self.baseOffset = baseOffset
    self.file = file
  }

  /// Bytes left after the cursor.
  public var remaining: Int { bytes.count - position }
  /// Whether the cursor is at the end.
  public var isAtEnd: Bool { position >= bytes.count }
  /// The absolute file offset of the cursor.
  public var absoluteOffset: Int { baseOffset + position }

  /// An error at the cursor.
  public func error(_ code: GraftError.Code, _ message: String, tensor: String? = nil) -> GraftError {
    GraftError(code, message, file: file, tensor: tensor, byteOffset: absoluteOffset)
  }

  /// Throws `truncated` unless `count` bytes remain.
  public func require(_ count: Int, for what: @autoclosure () -> String) throws(GraftError) {
    guard count >= 0, count <= remaining else {
      throw error(.truncated, "\(what()) needs \(count) bytes but only \(remaining) remain")
    }
  }

  /// Moves the cursor to an absolute position within `bytes`.
  public mutating func seek(to newPosition: Int) throws(GraftError) {
    guard newPosition >= 0, newPosition <= bytes.count else {
      throw error(.truncated, "position \(baseOffset + newPosition) is outside the \(bytes.count)-byte input")
    }
    position = newPosition
  }

  /// Skips `count` bytes.
  public mutating func skip(_ count: Int) throws(GraftError) {
    try require(count, for: "skipping")
    position += count
  }

  /// Reads a fixed-width integer stored little-endian.
  public mutating func readLittleEndian<T: FixedWidthInteger>(_ type: T.Type = T.self) throws(GraftError) -> T {
    try require(MemoryLayout<T>.size, for: "a \(MemoryLayout<T>.size)-byte integer")
    let value = T(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: T.self))
    position += MemoryLayout<T>.size
    return value
  }

  /// Reads a fixed-width integer stored big-endian.
  public mutating func readBigEndian<T: FixedWidthInteger>(_ type: T.Type = T.self) throws(GraftError) -> T {
    try require(MemoryLayout<T>.size, for: "a \(MemoryLayout<T>.size)-byte integer")
    let value = T(bigEndian: bytes.loadUnaligned(fromByteOffset: position, as: T.self))
    position += MemoryLayout<T>.size
    return value
  }

  /// How many bytes lie between the cursor and the next `byte`, or `nil` when it does not occur again (for
  /// text fields that end at a delimiter).
  public func distance(to byte: UInt8) -> Int? {
    guard let index = bytes[position...].firstIndex(of: byte) else { return nil }
    return index - position
  }

  /// Reads one byte.
  public mutating func readByte() throws(GraftError) -> UInt8 {
    try require(1, for: "a byte")
    defer { position += 1 }
    return bytes[position]
  }

  /// Returns a view of the next `count` bytes and advances past them.
  public mutating func readBytes(_ count: Int) throws(GraftError) -> UnsafeRawBufferPointer {
    try require(count, for: "a \(count)-byte field")
    defer { position += count }
    return UnsafeRawBufferPointer(rebasing: bytes[position..<(position + count)])
  }

  /// Reads `count` bytes as UTF-8, throwing `invalidHeader` when they are not valid UTF-8.
  public mutating func readUTF8(_ count: Int, what: String = "a string") throws(GraftError) -> String {
    let start = absoluteOffset
    let raw = try readBytes(count)
    guard let text = String(validating: raw, as: UTF8.self) else {
      throw GraftError(.invalidHeader, "\(what) is not valid UTF-8", file: file, byteOffset: start)
    }
    return text
  }

  /// A sub-reader over the next `count` bytes (advancing past them), with offsets still absolute.
  public mutating func subReader(_ count: Int) throws(GraftError) -> ByteReader {
    let start = baseOffset + position
    let view = try readBytes(count)
    return ByteReader(view, baseOffset: start, file: file)
  }
}

/// Checked arithmetic for sizes computed from untrusted numbers.
public enum Checked {
  /// `a * b`, or `nil` on overflow or a negative operand.
  @inlinable public static func multiply(_ a: Int, _ b: Int) -> Int? {
    guard a >= 0, b >= 0 else { return nil }
    let (r, o) = a.multipliedReportingOverflow(by: b)
    return o ? nil : r
  }
  /// `a + b`, or `nil` on overflow or a negative operand.
  @inlinable public static func add(_ a: Int, _ b: Int) -> Int? {
    guard a >= 0, b >= 0 else { return nil }
    let (r, o) = a.addingReportingOverflow(b)
    return o ? nil : r
  }
  /// The product of all dimensions, or `nil` on overflow or a negative dimension.
  @inlinable public static func product(_ dims: [Int]) -> Int? {
    var n = 1
    for d in dims {
      guard let m = multiply(n, d) else { return nil }
      n = m
    }
    return n
  }
}
