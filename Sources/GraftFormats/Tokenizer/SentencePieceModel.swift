public import GraftCore

/// A SentencePiece model file (`tokenizer.model`, a serialized `sentencepiece.ModelProto`): the pieces with their
/// scores and types, and the trainer and normalizer settings a converter needs.
///
/// Field numbers are those of `sentencepiece_model.proto`; fields not listed here are skipped when reading and not
/// written.
public struct SentencePieceModel: Sendable, Equatable {
  /// `ModelProto.SentencePiece.Type`; the numbers are also GGUF's `tokenizer.ggml.token_type` values.
  public enum PieceType: Int32, Sendable {
    /// A normal piece.
    case normal = 1
    /// The unknown piece.
    case unknown = 2
    /// A control symbol (`<s>`, `</s>`).
    case control = 3
    /// A user-defined symbol, always kept whole.
    case userDefined = 4
    /// Unused.
    case unused = 5
    /// A byte-fallback piece `<0xAB>`.
    case byte = 6
  }

  /// One vocabulary entry.
  public struct Piece: Sendable, Equatable {
    /// The text, with `▁` for spaces.
    public var piece: String
    /// The log probability (unigram) or negated merge rank (BPE).
    public var score: Float
    /// The type.
    public var type: PieceType

    /// Creates a piece.
    public init(_ piece: String, score: Float, type: PieceType = .normal) {
      self.piece = piece
      self.score = score
      self.type = type
    }
  }

  /// `TrainerSpec.ModelType`.
  public enum ModelType: Int32, Sendable {
    /// Unigram language model.
    case unigram = 1
    /// Byte-pair encoding.
    case bpe = 2
    /// Whitespace-delimited words.
    case word = 3
    /// Characters.
    case char = 4
  }

  /// The vocabulary, in id order.
  public var pieces: [Piece]
  /// `trainer_spec.model_type` (default unigram).
  public var modelType: ModelType = .unigram
  /// `trainer_spec.byte_fallback`.
  public var byteFallback = false
  /// `trainer_spec.unk_id` (default 0).
  public var unknownID: Int = 0
  /// `trainer_spec.bos_id` (default 1; −1 when disabled).
  public var bosID: Int = 1
  /// `trainer_spec.eos_id` (default 2).
  public var eosID: Int = 2
  /// `trainer_spec.pad_id` (default −1: none).
  public var padID: Int = -1
  /// `normalizer_spec.name` (`nmt_nfkc`, `identity`, …).
  public var normalizerName = ""
  /// `normalizer_spec.precompiled_charsmap`.
  public var precompiledCharsmap: [UInt8] = []
  /// `normalizer_spec.add_dummy_prefix` (default true): a space is prepended to the input.
  public var addDummyPrefix = true
  /// `normalizer_spec.remove_extra_whitespaces` (default true).
  public var removeExtraWhitespaces = true
  /// `normalizer_spec.escape_whitespaces` (default true): spaces become `▁`.
  public var escapeWhitespaces = true

  /// Creates a model from pieces, every other setting at the protobuf defaults.
  public init(pieces: [Piece]) { self.pieces = pieces }

  /// The largest `tokenizer.model` read (real ones are under 5 MB).
  public static let maximumFileBytes = 256 << 20
  /// The most pieces accepted (real vocabularies have at most 262,144).
  public static let maximumPieceCount = 1 << 22

  /// Reads a `tokenizer.model` file.
  ///
  /// - Throws: `limitExceeded` for a file over ``maximumFileBytes``; any error of ``init(parsing:file:)``.
  public static func read(path: String) throws(GraftError) -> SentencePieceModel {
    let bytes = try FileSystem.readAll(path, limit: maximumFileBytes, what: "the SentencePiece model")
    return try bytes.withUnsafeBytes { raw in
      Result { () throws(GraftError) in try SentencePieceModel(parsing: raw, file: path) }
    }.get()
  }

  /// Parses a serialized `ModelProto`.
  ///
  /// - Throws: `invalidHeader` / `truncated` for malformed protobuf (with the byte offset), `limitExceeded` past
  ///   ``maximumPieceCount`` pieces, `invalidHeader` for a piece that is not UTF-8 or has an unknown type, and
  ///   `invalidHeader` when the model has no pieces.
  public init(parsing bytes: UnsafeRawBufferPointer, file: String? = nil) throws(GraftError) {
    var pieces: [Piece] = []
    var model = SentencePieceModel(pieces: [])
    try Protobuf.forEachField(ByteReader(bytes, file: file)) { (field) throws(GraftError) in
      switch (field.number, field.payload) {
      case (1, let payload?):
        guard pieces.count < Self.maximumPieceCount else {
          throw GraftError(
            .limitExceeded, "more than \(Self.maximumPieceCount) pieces", file: file, byteOffset: field.offset)
        }
        pieces.append(try Self.parsePiece(payload, offset: field.offset))
      case (2, let payload?): try model.parseTrainerSpec(payload)
      case (3, let payload?): try model.parseNormalizerSpec(payload)
      default: break
      }
    }
    guard !pieces.isEmpty else {
      throw GraftError(
        .invalidHeader, "the SentencePiece model has no pieces; is this a tokenizer.model file?", file: file,
        byteOffset: 0)
    }
    model.pieces = pieces
    self = model
  }

  private static func parsePiece(_ message: ByteReader, offset: Int) throws(GraftError) -> Piece {
    var piece = Piece("", score: 0)
    try Protobuf.forEachField(message) { (field) throws(GraftError) in
      switch field.number {
      case 1:
        guard var p = field.payload else { throw badWire(field, message.file) }
        piece.piece = try p.readUTF8(p.remaining, what: "a SentencePiece piece")
      case 2:
        guard field.wireType == .fixed32 else { throw badWire(field, message.file) }
        piece.score = field.float
      case 3:
        guard field.wireType == .varint, let type = PieceType(rawValue: field.int32) else {
          throw GraftError(
            .invalidHeader, "piece type \(field.int32) is not one of SentencePiece's types 1–6", file: message.file,
            byteOffset: field.offset)
        }
        piece.type = type
      default: break
      }
    }
    return piece
  }

  private mutating func parseTrainerSpec(_ message: ByteReader) throws(GraftError) {
    try Protobuf.forEachField(message) { (field) throws(GraftError) in
      guard [3, 35, 40, 41, 42, 43].contains(field.number) else { return }
      guard field.wireType == .varint else { throw Self.badWire(field, message.file) }
      switch field.number {
      case 3:
        guard let type = ModelType(rawValue: field.int32) else {
          throw GraftError(
            .invalidHeader, "trainer_spec.model_type \(field.int32) is not 1–4", file: message.file,
            byteOffset: field.offset)
        }
        modelType = type
      case 35: byteFallback = field.bool
      case 40: unknownID = Int(field.int32)
      case 41: bosID = Int(field.int32)
      case 42: eosID = Int(field.int32)
      default: padID = Int(field.int32)
      }
    }
  }

  private mutating func parseNormalizerSpec(_ message: ByteReader) throws(GraftError) {
    try Protobuf.forEachField(message) { (field) throws(GraftError) in
      switch field.number {
      case 1:
        guard var p = field.payload else { throw Self.badWire(field, message.file) }
        normalizerName = try p.readUTF8(p.remaining, what: "normalizer_spec.name")
      case 2:
        guard let p = field.payload else { throw Self.badWire(field, message.file) }
        precompiledCharsmap = Array(p.bytes)
      case 3, 4, 5:
        guard field.wireType == .varint else { throw Self.badWire(field, message.file) }
        if field.number == 3 { addDummyPrefix = field.bool }
        if field.number == 4 { removeExtraWhitespaces = field.bool }
        if field.number == 5 { escapeWhitespaces = field.bool }
      default: break
      }
    }
  }

  private static func badWire(_ field: Protobuf.Field, _ file: String?) -> GraftError {
    GraftError(
      .invalidHeader, "field \(field.number) has the wrong wire type (\(field.wireType))", file: file,
      byteOffset: field.offset)
  }

  /// The model as a serialized `ModelProto` (pieces, then `trainer_spec`, then `normalizer_spec`).
  public func serialized() -> [UInt8] {
    var out = Protobuf.Writer()
    for p in pieces {
      var w = Protobuf.Writer()
      w.string(1, p.piece)
      w.float(2, p.score)
      w.int32(3, p.type.rawValue)
      out.bytes(1, w.bytes)
    }
    var trainer = Protobuf.Writer()
    trainer.int32(3, modelType.rawValue)
    trainer.int32(4, Int32(clamping: pieces.count))
    trainer.bool(35, byteFallback)
    trainer.int32(40, Int32(clamping: unknownID))
    trainer.int32(41, Int32(clamping: bosID))
    trainer.int32(42, Int32(clamping: eosID))
    trainer.int32(43, Int32(clamping: padID))
    out.bytes(2, trainer.bytes)
    var normalizer = Protobuf.Writer()
    normalizer.string(1, normalizerName)
    if !precompiledCharsmap.isEmpty { normalizer.bytes(2, precompiledCharsmap) }
    normalizer.bool(3, addDummyPrefix)
    normalizer.bool(4, removeExtraWhitespaces)
    normalizer.bool(5, escapeWhitespaces)
    out.bytes(3, normalizer.bytes)
    return out.bytes
  }
}
