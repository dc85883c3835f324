import TestSupport
import Testing

@testable import GraftFormats

@Suite("SentencePiece tokenizer.model (protobuf ModelProto)")
struct SentencePieceModelTests {
  let fixture = TestPaths.fixture("gguf-llm/tokenizer-spm/tokenizer.model")

  func parse(_ bytes: [UInt8]) throws(GraftError) -> SentencePieceModel {
    try bytes.withUnsafeBytes { raw in
      Result { () throws(GraftError) in try SentencePieceModel(parsing: raw, file: "m.model") }
    }.get()
  }

  @Test("the fixture made by sentencepiece 0.2 reads as its 96 pieces, BPE, ids 0/1/2, identity normalizer")
  func fixtureModel() throws {
    let m = try SentencePieceModel.read(path: fixture)
    #expect(m.pieces.count == 96 && m.modelType == .bpe && !m.byteFallback)
    #expect(m.pieces[0] == .init("<unk>", score: 0, type: .unknown))
    #expect(m.pieces[1].type == .control && m.pieces[1].piece == "<s>" && m.pieces[2].piece == "</s>")
    #expect(m.pieces[3...].allSatisfy { $0.type == .normal } && m.pieces[3].score == 0 && m.pieces[4].score == -1)
    #expect([m.unknownID, m.bosID, m.eosID, m.padID] == [0, 1, 2, -1])
    #expect(m.normalizerName == "identity" && m.addDummyPrefix && !m.removeExtraWhitespaces && m.escapeWhitespaces)
  }

  @Test("serialize → parse keeps every field, negative ids (10-byte varints) included")
  func roundTrip() throws {
    var m = SentencePieceModel(pieces: [.init("<unk>", score: 0, type: .unknown), .init("▁a", score: -1.5)])
    m.modelType = .bpe
    m.byteFallback = true
    m.bosID = -1
    m.eosID = 1
    m.padID = -1
    m.precompiledCharsmap = [1, 2, 3]
    m.addDummyPrefix = false
    let back = try parse(m.serialized())
    #expect(back == m)
  }

  @Test("malformed protobuf is refused with the byte offset; an empty model names what it expected")
  func malformed() throws {
    let good = SentencePieceModel(pieces: [.init("a", score: 1)]).serialized()
    // Every proper prefix fails cleanly (truncated field) or parses to a model without its trainer spec.
    for n in 1..<good.count {
      do { _ = try parse(Array(good.prefix(n))) } catch {
        #expect([.truncated, .invalidHeader].contains(error.code) && error.byteOffset != nil, "prefix \(n)")
      }
    }
    #expect(throws: GraftError.self) { _ = try parse([0x0B]) }  // wire type 3 (group)
    #expect(throws: GraftError.self) { _ = try parse([0x08] + Array(repeating: 0xFF, count: 11)) }  // varint > 10 bytes
    #expect(throws: GraftError.self) { _ = try parse([0x0A, 0x80, 0x80, 0x80, 0x80, 0x08]) }  // 2^31-byte field
    #expect(throws: GraftError.self) { _ = try parse([0x0A, 0x02, 0x18, 0x09]) }  // piece type 9
    #expect(throws: GraftError.self) { _ = try parse([0x0A, 0x03, 0x0A, 0x01, 0xFF]) }  // piece not UTF-8
    do {
      _ = try parse([])
      Issue.record("an empty model parsed")
    } catch {
      #expect(error.description.contains("no pieces"))
    }
  }
}
