public import GraftCore

/// The protocol-buffer wire format (`protobuf.dev/programming-guides/encoding`), as much of it as a
/// SentencePiece `ModelProto` needs: varints, 32/64-bit fixed fields and length-delimited fields; groups are refused.
enum Protobuf {
  /// A field's wire type (the low 3 bits of its tag).
  enum WireType: UInt8 {
    case varint = 0
    case fixed64 = 1
    case lengthDelimited = 2
    case fixed32 = 5
  }

  /// One field of a message: its number, wire type and where its value lies.
  struct Field {
    var number: Int
    var wireType: WireType
    /// The value of a varint, fixed32 or fixed64 field (raw bits).
    var scalar: UInt64
    /// The bytes of a length-delimited field, as a reader with absolute offsets.
    var payload: ByteReader?
    /// The offset of the field's tag.
    var offset: Int

    /// The value as a signed 32-bit integer (protobuf `int32`: negative values are 10-byte varints).
    var int32: Int32 { Int32(truncatingIfNeeded: Int64(bitPattern: scalar)) }
    /// The value as a `float` (fixed32 bits).
    var float: Float { Float(bitPattern: UInt32(truncatingIfNeeded: scalar)) }
    /// The value as a `bool`.
    var bool: Bool { scalar != 0 }
  }

  /// Reads a base-128 varint of at most 10 bytes.
  static func readVarint(_ r: inout ByteReader) throws(GraftError) -> UInt64 {
    var value: UInt64 = 0
    for i in 0..<10 {
      let byte = try r.readByte()
      value |= UInt64(byte & 0x7F) << (7 * UInt64(i))
      if byte & 0x80 == 0 { return value }
    }
    throw r.error(.invalidHeader, "a protobuf varint runs past 10 bytes")
  }

  /// Calls `body` with every field of a message, in order.
  static func forEachField(
    _ message: ByteReader, _ body: (Field) throws(GraftError) -> Void
  ) throws(GraftError) {
    var r = message
    while !r.isAtEnd {
      let offset = r.absoluteOffset
      let tag = try readVarint(&r)
      let number = Int(tag >> 3)
      guard number > 0, number < 1 << 29, let wire = WireType(rawValue: UInt8(tag & 7)) else {
        throw GraftError(
          .invalidHeader,
          "protobuf tag \(tag) has field number \(tag >> 3) and wire type \(tag & 7); groups (3, 4) "
            + "and unknown wire types are not part of this message", file: r.file, byteOffset: offset)
      }
      var field = Field(number: number, wireType: wire, scalar: 0, payload: nil, offset: offset)
      switch wire {
      case .varint: field.scalar = try readVarint(&r)
      case .fixed64: field.scalar = try r.readLittleEndian(UInt64.self)
      case .fixed32: field.scalar = UInt64(try r.readLittleEndian(UInt32.self))
      case .lengthDelimited:
        let length = try readVarint(&r)
        guard length <= UInt64(r.remaining) else {
          throw r.error(.truncated, "field \(number) declares \(length) bytes but only \(r.remaining) remain")
        }
        field.payload = try r.subReader(Int(length))
      }
      try body(field)
    }
  }

  /// Appends protobuf fields to a buffer.
  struct Writer {
    /// The encoded bytes.
    var bytes: [UInt8] = []

    mutating func varint(_ value: UInt64) {
      var v = value
      while v >= 0x80 {
        bytes.append(UInt8(v & 0x7F) | 0x80)
        v >>= 7
      }
      bytes.append(UInt8(v))
    }

    mutating func tag(_ number: Int, _ wire: WireType) { varint(UInt64(number) << 3 | UInt64(wire.rawValue)) }

    mutating func int32(_ number: Int, _ value: Int32) {
      tag(number, .varint)
      varint(UInt64(bitPattern: Int64(value)))
    }

    mutating func bool(_ number: Int, _ value: Bool) {
      tag(number, .varint)
      varint(value ? 1 : 0)
    }

    mutating func float(_ number: Int, _ value: Float) {
      tag(number, .fixed32)
      withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func bytes(_ number: Int, _ value: [UInt8]) {
      tag(number, .lengthDelimited)
      varint(UInt64(value.count))
      bytes.append(contentsOf: value)
    }

    mutating func string(_ number: Int, _ value: String) { bytes(number, Array(value.utf8)) }
  }
}
