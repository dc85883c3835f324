import GraftCore
import GraftFormats
import TestSupport
import Testing

/// Crafted files hitting every cap and consistency check of the GGUF reader (`Formats/limits.md`).
@Suite("GGUF bad input")
struct GGUFBadInputTests {
  func expect(
    _ bytes: [UInt8], _ code: GraftError.Code, _ text: String, at offset: Int? = nil,
    sourceLocation: SourceLocation = #_sourceLocation
  ) {
    guard let error = ggufError(bytes, sourceLocation: sourceLocation) else { return }
    #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
    #expect(error.message.contains(text), "\(error.message)", sourceLocation: sourceLocation)
    #expect(error.file == "mem.gguf", sourceLocation: sourceLocation)
    if let offset { #expect(error.byteOffset == offset, "\(error)", sourceLocation: sourceLocation) }
  }

  @Test("every truncation of real files is an error, never a crash")
  func truncation() throws {
    for fixture in ["kv_types.gguf", "split-00001-of-00002.gguf"] {
      let bytes = try FileSystem.readAll(TestPaths.fixture("gguf/" + fixture))
      let full = try #require(try? parseGGUF(bytes).get())
      // Cut anywhere before the last tensor's end: the header or the data is missing.
      let end = full.dataOffset + (full.tensors.map { $0.offset + $0.byteCount }.max() ?? 0)
      for cut in 0..<end {
        guard case .failure(let error) = parseGGUF(Array(bytes[0..<cut])) else {
          Issue.record("\(fixture) cut at \(cut) parsed")
          continue
        }
        #expect([.truncated, .invalidOffset, .unrecognizedFormat].contains(error.code), "\(cut): \(error)")
      }
    }
  }

  @Test("a tensor whose data runs past the end of the file")
  func offsetPastEnd() {
    var b = GGUFBytes(tensors: 1, keyValues: 0)
    b.tensor("w", dims: [8], type: 0, offset: 0)
    b.pad()
    b.data(16)
    expect(b.bytes, .invalidOffset, "runs past the end", at: 24)
    var c = GGUFBytes(tensors: 1, keyValues: 0)
    c.tensor("w", dims: [8], type: 0, offset: UInt64.max)
    c.pad()
    expect(c.bytes, .invalidOffset, "beyond any file")
  }

  @Test("unknown and removed ggml types are named")
  func unknownType() {
    var b = GGUFBytes(tensors: 1, keyValues: 0)
    b.tensor("w", dims: [32], type: 99, offset: 0)
    expect(b.bytes, .unknownDType, "unknown ggml type 99", at: 24 + 9 + 4 + 8)
    var c = GGUFBytes(tensors: 1, keyValues: 0)
    c.tensor("w", dims: [32], type: 31, offset: 0)
    expect(c.bytes, .unknownDType, "Q4_0_4_4")
  }

  @Test("duplicate tensor names and duplicate keys")
  func duplicates() {
    var b = GGUFBytes(tensors: 2, keyValues: 0)
    b.tensor("w", dims: [1], type: 0, offset: 0)
    b.tensor("w", dims: [1], type: 0, offset: 32)
    b.pad()
    b.data(64)
    expect(b.bytes, .duplicateKey, "appears twice")
    var c = GGUFBytes(tensors: 0, keyValues: 2)
    c.kvU32("a", 1)
    c.kvU32("a", 2)
    expect(c.bytes, .duplicateKey, "'a' appears twice")
  }

  @Test("a 2^40-entry vocabulary is refused without allocating it")
  func hugeArray() {
    var b = GGUFBytes(tensors: 0, keyValues: 1)
    b.arrayHeader("tokenizer.ggml.tokens", of: .string, count: 1 << 40)
    expect(b.bytes, .limitExceeded, "declares 1099511627776 elements", at: 24 + 29 + 8)
    // Under ggml's 2^30 cap but more than the file can hold.
    var c = GGUFBytes(tensors: 0, keyValues: 1)
    c.arrayHeader("t", of: .string, count: 1 << 29)
    c.data(64)
    expect(c.bytes, .truncated, "only 64 bytes remain")
  }

  @Test("all arrays together are capped at 2^24 elements")
  func totalArrayElements() {
    var b = GGUFBytes(tensors: 0, keyValues: 1)
    b.arrayHeader("t", of: .uint8, count: UInt64(GGUFLimits.maximumTotalArrayElements + 1))
    b.data(GGUFLimits.maximumTotalArrayElements + 1)
    expect(b.bytes, .limitExceeded, "array elements")
  }

  @Test("counts, string lengths, nesting and dimensions are capped")
  func caps() {
    let tooManyTensors = GGUFBytes(tensors: UInt64(GGUFLimits.maximumTensorCount) + 1, keyValues: 0)
    expect(tooManyTensors.bytes, .limitExceeded, "tensor count", at: 8)
    let tooManyKVs = GGUFBytes(tensors: 0, keyValues: 1 << 40)
    expect(tooManyKVs.bytes, .limitExceeded, "key-value count", at: 16)
    let moreThanTheFile = GGUFBytes(tensors: 1000, keyValues: 0)
    expect(moreThanTheFile.bytes, .truncated, "tensor count 1000")
    var longKey = GGUFBytes(tensors: 0, keyValues: 1)
    longKey.u64(1 << 20)
    longKey.data(64)
    expect(longKey.bytes, .limitExceeded, "metadata key")
    var longString = GGUFBytes(tensors: 0, keyValues: 1)
    longString.key("k", .string)
    longString.u64((1 << 30) + 1)
    expect(longString.bytes, .limitExceeded, "cap is 1073741824")
    var deep = GGUFBytes(tensors: 0, keyValues: 1)
    deep.key("k", .array)
    for _ in 0..<12 {
      deep.u32(GGUFValueType.array.rawValue)
      deep.u64(1)
    }
    expect(deep.bytes, .limitExceeded, "nests arrays deeper than 8")
    var rank = GGUFBytes(tensors: 1, keyValues: 0)
    rank.string("w")
    rank.u32(1_000_000)
    rank.data(64)
    expect(rank.bytes, .limitExceeded, "ggml allows at most 4")
    var overflow = GGUFBytes(tensors: 1, keyValues: 0)
    overflow.tensor("w", dims: [1 << 40, 1 << 40], type: 0, offset: 0)
    expect(overflow.bytes, .overflow, "64 bits")
    var negative = GGUFBytes(tensors: 1, keyValues: 0)
    negative.tensor("w", dims: [UInt64.max], type: 0, offset: 0)
    expect(negative.bytes, .invalidTensorInfo, "int64 range")
  }

  @Test("rows that are not whole blocks, misaligned and overlapping tensors")
  func layout() {
    var rows = GGUFBytes(tensors: 1, keyValues: 0)
    rows.tensor("w", dims: [48, 2], type: GGMLType.q8_0.rawValue, offset: 0)
    expect(rows.bytes, .invalidTensorInfo, "not a multiple of the Q8_0 block size 32")
    var misaligned = GGUFBytes(tensors: 1, keyValues: 0)
    misaligned.tensor("w", dims: [4], type: 0, offset: 4)
    misaligned.pad()
    misaligned.data(64)
    expect(misaligned.bytes, .invalidOffset, "not a multiple of the alignment 32")
    var overlap = GGUFBytes(tensors: 2, keyValues: 0)
    overlap.tensor("a", dims: [16], type: 0, offset: 0)
    overlap.tensor("b", dims: [16], type: 0, offset: 32)
    overlap.pad()
    overlap.data(128)
    expect(overlap.bytes, .invalidOffset, "overlaps tensor 'a'")
  }

  @Test("a layout ggml would refuse but the specification allows is read and flagged")
  func nonGGMLLayout() throws {
    var b = GGUFBytes(tensors: 2, keyValues: 0)
    b.tensor("a", dims: [8], type: 0, offset: 64)
    b.tensor("b", dims: [8], type: 0, offset: 0)
    b.pad()
    b.data(96)
    let file = try parseGGUF(b.bytes).get()
    #expect(!file.hasGGMLLayout)
  }

  @Test("versions, byte order and the alignment key")
  func header() {
    expect(Array("GGUF".utf8) + [0, 0, 0, 3, 0, 0, 0, 0], .unsupported, "big-endian", at: 4)
    expect(GGUFBytes(version: 1, tensors: 0, keyValues: 0).bytes, .unsupported, "version 1", at: 4)
    expect(GGUFBytes(version: 4, tensors: 0, keyValues: 0).bytes, .unsupported, "unknown GGUF version 4", at: 4)
    expect(Array("GGML".utf8) + [3, 0, 0, 0], .unrecognizedFormat, "not a GGUF file", at: 0)
    var signed = GGUFBytes(tensors: 0, keyValues: 1)
    signed.key("general.alignment", .int32)
    signed.u32(64)
    expect(signed.bytes, .invalidHeader, "must be UINT32", at: 24)
    var odd = GGUFBytes(tensors: 0, keyValues: 1)
    odd.kvU32("general.alignment", 48)
    expect(odd.bytes, .invalidHeader, "not a power of two")
  }

  @Test("bad values: a bool of 2, an unknown value type, an empty key, invalid UTF-8")
  func values() {
    var bool = GGUFBytes(tensors: 0, keyValues: 1)
    bool.key("b", .bool)
    bool.bytes.append(2)
    expect(bool.bytes, .invalidHeader, "GGUF bools are 0 or 1", at: 24 + 9 + 4)
    var type = GGUFBytes(tensors: 0, keyValues: 1)
    type.string("t")
    type.u32(13)
    type.data(8)
    expect(type.bytes, .invalidHeader, "unknown value type 13")
    var empty = GGUFBytes(tensors: 0, keyValues: 1)
    empty.kvU32("", 1)
    expect(empty.bytes, .invalidHeader, "empty")
    var utf8 = GGUFBytes(tensors: 0, keyValues: 1)
    utf8.u64(2)
    utf8.bytes += [0xC3, 0x28]
    utf8.u32(GGUFValueType.uint8.rawValue)
    utf8.bytes.append(1)
    expect(utf8.bytes, .invalidHeader, "not valid UTF-8")
  }

  @Test("a tensor of a type Graft cannot decode loads, and reading it names the type")
  func undecodable() throws {
    var b = GGUFBytes(tensors: 1, keyValues: 1)
    b.kvString("general.architecture", "x")
    b.tensor("w", dims: [256], type: GGMLType.iq2_XXS.rawValue, offset: 0)
    b.pad()
    b.data(96)
    let dir = try TestPaths.scratchFolder("gguf-iq")
    try FileSystem.writeAll(b.bytes, to: dir + "/iq.gguf")
    let table = try GGUF.read(path: dir + "/iq.gguf")
    let tensor = try #require(table["w"])
    #expect(tensor.quantization?.format.name == "IQ2_XXS")
    do {
      _ = try tensor.readAllBytes()
      Issue.record("IQ2_XXS decoded")
    } catch let error as GraftError {
      #expect(error.message.contains("IQ2_XXS"))
      #expect(error.tensor == "w")
    }
    // The blocks themselves still copy to another GGUF file unchanged.
    try GGUF.write(table, to: dir + "/copy.gguf")
    #expect(try FileSystem.readAll(dir + "/copy.gguf") == b.bytes)
  }
}
