import GraftCore
import GraftFormats
import TestSupport
import Testing

/// The reference crate's `tensor.rs` test cases and validation order, as golden vectors.
@Suite struct SafeTensorsReaderTests {
  typealias Kind = SafeTensors.CrateErrorKind

  func expect(
    _ error: GraftError?, _ kind: Kind, code: GraftError.Code? = nil, tensor: String? = nil, offset: Int? = nil,
    sourceLocation: SourceLocation = #_sourceLocation
  ) {
    guard let error else { return }
    #expect(Kind(error) == kind, "\(error)", sourceLocation: sourceLocation)
    #expect(error.code == (code ?? kind.code), "\(error)", sourceLocation: sourceLocation)
    #expect(error.message.hasPrefix(kind.displayPrefix), "\(error.message)", sourceLocation: sourceLocation)
    #expect(error.file == "mem.safetensors", sourceLocation: sourceLocation)
    if let tensor { #expect(error.tensor == tensor, sourceLocation: sourceLocation) }
    if let offset { #expect(error.byteOffset == offset, "\(error)", sourceLocation: sourceLocation) }
  }

  @Test func headerTooSmall() {
    expect(parseError([]), .headerTooSmall, offset: 0)
    expect(parseError([1, 0, 0, 0, 0, 0, 0]), .headerTooSmall, offset: 0)
  }

  @Test func headerTooLarge() {
    // test_header_too_large: `<\0\0\0\0\xff\xff\xff`.
    expect(parseError([0x3C, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF] + Array("{}".utf8)), .headerTooLarge, offset: 0)
    expect(parseError(safetensorsFile("{}", length: 100_000_001)), .headerTooLarge)
    // Over the cap is checked before the file length: a cap-sized claim on a tiny file is InvalidHeaderLength.
    expect(parseError(safetensorsFile("{}", length: 100_000_000)), .invalidHeaderLength)
  }

  @Test func invalidHeaderLength() {
    // test_invalid_header_length: an 8-byte file claiming 60 header bytes.
    expect(parseError([60, 0, 0, 0, 0, 0, 0, 0]), .invalidHeaderLength, code: .invalidHeader, offset: 0)
  }

  @Test func nonUTF8Header() {
    // test_invalid_header_non_utf8.
    expect(parseError([1, 0, 0, 0, 0, 0, 0, 0, 0xFF]), .invalidHeader, offset: 8)
    // Invalid UTF-8 inside a string literal is still step 4, not JSON.
    let bytes = safetensorsFile("{\"__metadata__\":{\"k\":\"\u{1}\"}}").map { $0 == 1 ? 0xC0 : $0 }
    expect(parseError(bytes), .invalidHeader, offset: 8 + 22)
    // Overlong, surrogate and out-of-range sequences.
    for bad: [UInt8] in [[0xE0, 0x80, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xC3]] {
      let raw: [UInt8] = [0x7B] + bad + [0x7D]
      expect(parseError(safetensorsFile("", length: UInt64(raw.count)) + raw), .invalidHeader, offset: 9)
    }
    #expect((try? parse(safetensorsFile("{\"__metadata__\":{\"k\":\"é😀\"}}")).get()) != nil)
  }

  @Test func notJSON() {
    // test_invalid_header_not_json.
    expect(parseError([1, 0, 0, 0, 0, 0, 0, 0, UInt8(ascii: "{")]), .invalidHeaderDeserialization, offset: 9)
    expect(parseError(safetensorsFile("[]")), .invalidHeaderDeserialization, offset: 8)
    expect(parseError(safetensorsFile("{}\0\0")), .invalidHeaderDeserialization, offset: 10)
  }

  @Test func whitespacePaddedHeaders() throws {
    // test_whitespace_padded_header and test_whitespace_leading_padded_header.
    let trailing = try parse([6, 0, 0, 0, 0, 0, 0, 0] + Array("{}\r \t\n".utf8)).get()
    #expect(trailing.tensors.isEmpty && trailing.headerLength == 6 && trailing.dataStart == 14)
    let leading = try parse([6, 0, 0, 0, 0, 0, 0, 0] + Array("\t\n{}\r ".utf8)).get()
    #expect(leading.tensors.isEmpty && leading.metadata == nil)
    // Page-aligned data start, as future writers may do.
    let padded = String(repeating: " ", count: 100) + "{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}"
    let header = try parse(safetensorsFile(padded, data: [7])).get()
    #expect(header.tensors.map(\.name) == ["w"])
  }

  @Test func emptyAndMetadataVariants() throws {
    // test_empty: `{}` + 6 spaces.
    let empty: [UInt8] = [8, 0, 0, 0, 0, 0, 0, 0, 0x7B, 0x7D, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20]
    let h = try parse(empty).get()
    #expect(h.tensors.isEmpty && h.metadata == nil && h.headerLength == 8)
    let null = try parse(safetensorsFile("{\"__metadata__\":null}")).get()
    #expect(null.metadata == nil)
    let braces = try parse(safetensorsFile("{\"__metadata__\":{}}")).get()
    #expect(braces.metadata == JSONObject())
    let md = try parse(safetensorsFile("{\"__metadata__\":{\"framework\":\"pt\",\"a\":\"1\"}}")).get()
    #expect(md.metadata?.keys == ["framework", "a"])
    // A non-string metadata value fails deserialisation, as in serde.
    expect(
      parseError(safetensorsFile("{\"__metadata__\":{\"n\":1}}")), .invalidHeaderDeserialization, offset: 9)
    expect(parseError(safetensorsFile("{\"__metadata__\":[]}")), .invalidHeaderDeserialization)
  }

  @Test func scalarsAndZeroSize() throws {
    // test_empty_shapes_allowed.
    let scalar = try parse(
      safetensorsFile("{\"s\":{\"dtype\":\"I32\",\"shape\":[],\"data_offsets\":[0,4]}}", data: [1, 0, 0, 0])
    ).get()
    #expect(scalar.tensors[0].shape == [] && scalar.tensors[0].dataOffsets == 0..<4)
    // test_zero_sized_tensor: no data bytes at all.
    let zero = try parse(safetensorsFile("{\"z\":{\"dtype\":\"F32\",\"shape\":[2,0],\"data_offsets\":[0,0]}}")).get()
    #expect(zero.tensors[0].shape == [2, 0] && zero.tensors[0].dataOffsets.isEmpty)
  }

  @Test func jsonAttack() {
    // test_json_attack: ten tensors all claiming [0, 16].
    let members = (0..<10).map { "\"weight_\($0)\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}" }
    let file = safetensorsFile("{" + members.joined(separator: ",") + "}", data: Array(repeating: 0, count: 16))
    let error = parseError(file)
    expect(error, .invalidOffset, tensor: "weight_1")
    #expect(error?.message.hasPrefix("invalid offset for tensor `weight_1`") == true)
    // The offset points at the key in the file.
    let keyOffset = 8 + 1 + members[0].utf8.count + 1
    #expect(error?.byteOffset == keyOffset)
  }

  @Test func gapsOverlapsAndFirstOffset() {
    let gap =
      "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
      + "\"b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[2,3]}}"
    expect(parseError(safetensorsFile(gap, data: [0, 0, 0])), .invalidOffset, tensor: "b")
    let late = "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}"
    expect(parseError(safetensorsFile(late, data: [0, 0])), .invalidOffset, tensor: "a")
    let backwards =
      "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
      + "\"b\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[1,0]}}"
    expect(parseError(safetensorsFile(backwards, data: [0])), .invalidOffset, tensor: "b")
    let huge = "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,18446744073709551615]}}"
    expect(parseError(safetensorsFile(huge, data: [0])), .tensorInvalidInfo, tensor: "a")
  }

  @Test func keyOrderIsFree() throws {
    let header =
      "{\"second\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[4,6]},"
      + "\"first\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}"
    let h = try parse(safetensorsFile(header, data: [0, 0, 0, 0, 1, 2])).get()
    #expect(h.tensors.map(\.name) == ["first", "second"])
  }

  @Test func invalidInfo() {
    // test_invalid_info: [2,2] I32 with offsets [0,4].
    let file = safetensorsFile(
      "{\"w\":{\"dtype\":\"I32\",\"shape\":[2,2],\"data_offsets\":[0,4]}}", data: [0, 0, 0, 0])
    expect(parseError(file), .tensorInvalidInfo, tensor: "w", offset: 9)
  }

  @Test func validationOverflow() {
    // test_validation_overflow: element count overflows, then the bit count overflows.
    for shape in ["[2,18446744073709551614]", "[2,9223372036854775807]"] {
      let file = safetensorsFile("{\"w\":{\"dtype\":\"F32\",\"shape\":\(shape),\"data_offsets\":[0,16]}}", data: [])
      expect(parseError(file), .validationOverflow, tensor: "w")
    }
    // A huge dimension next to a zero is valid for the crate but not representable here: still an overflow error.
    let zero = safetensorsFile("{\"w\":{\"dtype\":\"F32\",\"shape\":[0,18446744073709551615],\"data_offsets\":[0,0]}}")
    expect(parseError(zero), .validationOverflow, tensor: "w")
  }

  @Test func subByteTypes() throws {
    let ok = try parse(
      safetensorsFile("{\"q\":{\"dtype\":\"F4\",\"shape\":[1,2],\"data_offsets\":[0,1]}}", data: [0x21])
    )
    .get()
    #expect(ok.tensors[0].dtype == .float4E2M1)
    let misaligned = safetensorsFile("{\"q\":{\"dtype\":\"F4\",\"shape\":[1,3],\"data_offsets\":[0,2]}}", data: [0, 0])
    expect(parseError(misaligned), .misalignedSlice, tensor: "q")
    let f6 = try parse(
      safetensorsFile("{\"q\":{\"dtype\":\"F6_E2M3\",\"shape\":[4],\"data_offsets\":[0,3]}}", data: [1, 2, 3])
    )
    .get()
    #expect(f6.tensors[0].dataOffsets == 0..<3)
  }

  @Test func incompleteBuffer() {
    // test_metadata_incomplete_buffer: polyglot trailing bytes, and a file missing 2 bytes.
    let header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[1,2],\"data_offsets\":[0,8]}}"
    let valid = safetensorsFile(header, data: Array(repeating: 0, count: 8))
    #expect((try? parse(valid).get()) != nil)
    let polyglot = valid + Array("extra_bogus_data_for_polyglot_file".utf8)
    expect(parseError(polyglot), .metadataIncompleteBuffer, code: .invalidOffset, offset: valid.count)
    expect(parseError(Array(valid.dropLast(2))), .metadataIncompleteBuffer, code: .truncated)
  }

  @Test func deserializationErrors() {
    let cases: [(String, GraftError.Code)] = [
      ("{\"w\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", .unknownDType),
      ("{\"w\":{\"dtype\":\"C128\",\"shape\":[1],\"data_offsets\":[0,16]}}", .unknownDType),
      ("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", .invalidJSON),
      ("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", .invalidJSON),
      ("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", .invalidJSON),
      ("{\"w\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}", .invalidJSON),
      ("{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", .invalidJSON),
      ("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", .invalidJSON),
      ("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-1,4]}}", .invalidJSON),
      ("{\"w\":{\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]}}", .invalidJSON),
      ("{\"w\":[]}", .invalidJSON),
    ]
    for (header, code) in cases {
      let error = parseError(safetensorsFile(header, data: [0, 0, 0, 0]))
      expect(error, .invalidHeaderDeserialization, code: code, tensor: "w", offset: 9)
    }
  }

  @Test func unknownFieldsAreIgnored() throws {
    let header = "{\"w\":{\"dtype\":\"U8\",\"extra\":{\"a\":[1]},\"shape\":[1],\"data_offsets\":[0,1],\"z\":null}}"
    let h = try parse(safetensorsFile(header, data: [9])).get()
    #expect(h.tensors == [.init(name: "w", dtype: .uint8, shape: [1], dataOffsets: 0..<1)])
  }

  @Test func duplicateKeys() throws {
    let header =
      "{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
      + "\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}"
    let file = safetensorsFile(header, data: [5])
    let error = parseError(file)
    #expect(error?.code == .duplicateKey)
    #expect(error?.tensor == "w")
    #expect(error?.byteOffset == 8 + 1 + (header.utf8.count - 2) / 2 + 1)
    #expect(error.flatMap(Kind.init) == nil)
    // Lenient: last wins, like the crate; identical duplicates then pass.
    var lenient = SafeTensors.ReadOptions()
    lenient.duplicateKeys = .keepLast
    let h = try parse(file, options: lenient).get()
    #expect(h.tensors.map(\.name) == ["w"])
    // Different offsets: the crate's misleading InvalidOffset (safetensors#401) after last-wins.
    let differing =
      "{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
      + "\"v\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]},"
      + "\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[2,3]}}"
    expect(parseError(safetensorsFile(differing, data: [1, 2, 3]), options: lenient), .invalidOffset, tensor: "v")
  }

  @Test func readMapsTensorsZeroCopy() throws {
    let folder = try TestPaths.scratchFolder("st-read")
    let path = folder + "/a.safetensors"
    let header = "{\"__metadata__\":{\"format\":\"pt\"},\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}"
    let values: [Float] = [1.5, -2]
    let data = values.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian, Array.init) }
    try FileSystem.writeAll(safetensorsFile(header, data: data), to: path)
    let table = try SafeTensors.read(path: path)
    #expect(table.names == ["w"])
    #expect(table.metadata["format"] == "pt")
    let tensor = try #require(table["w"])
    #expect(tensor.bytes is MappedBytes)
    #expect(try floatValues(tensor) == values)
    #expect(throws: GraftError.self) { try SafeTensors.read(path: folder + "/missing.safetensors") }
    do {
      _ = try SafeTensors.read(path: folder + "/missing.safetensors")
    } catch {
      #expect(error.code == .io && error.file == folder + "/missing.safetensors")
    }
  }

  @Test func largeHeadersStayLinear() throws {
    // 20k tensors and 20k metadata keys: quadratic bookkeeping (a rescan per tensor) would take minutes here.
    let n = 20_000
    var parts = ["\"__metadata__\":{" + (0..<n).map { "\"k\($0)\":\"v\"" }.joined(separator: ",") + "}"]
    parts += (0..<n).map { "\"t\($0)\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[\($0),\($0 + 1)]}" }
    let file = safetensorsFile("{" + parts.joined(separator: ",") + "}", data: Array(repeating: 0, count: n))
    let start = FileSystem.monotonicNanoseconds()
    let header = try parse(file).get()
    #expect(header.tensors.count == n && header.metadata?.count == n)
    #expect(FileSystem.monotonicNanoseconds() - start < 30_000_000_000)
    // An error near the end still gets its offset without rescanning per tensor.
    let broken = Array(file.dropLast())
    #expect(parseError(broken)?.code == .truncated)
  }

  @Test func duplicateFieldInsideAnEntryNamesNoTensor() {
    let header = "{\"w\":{\"dtype\":\"U8\",\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}"
    let error = parseError(safetensorsFile(header, data: [1]))
    #expect(error?.code == .duplicateKey && error?.tensor == nil && error?.byteOffset == 8 + 19)
  }

  @Test func everyKindIsClassified() {
    for kind in Kind.allCases {
      let error = GraftError(kind.code, kind.displayPrefix + ": detail")
      #expect(Kind(error) == kind)
    }
  }
}
