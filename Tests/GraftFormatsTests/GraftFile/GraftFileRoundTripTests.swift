import GraftCore
import GraftFormats
import TestSupport
import Testing

@Suite("Native .graft round trips")
struct GraftFileRoundTripTests {
  @Test("every dtype, scalars, zero-size tensors, aliases, metadata and lineage survive a round trip")
  func everythingRoundTrips() throws {
    let folder = try TestPaths.scratchFolder("native")
    let table = try GraftFileFixtures.everything()
    let path = folder + "/all.graft"
    let summary = try GraftFile.write(table, to: path)
    #expect(summary.files == [path])
    #expect(summary.storedTensorCount == table.count - 1)
    #expect(try summary.bytesWritten == FileSystem.size(of: path))
    let back = try GraftFile.read(path: path)
    #expect(try GraftFileFixtures.assertEqual(table, back))
    #expect(back.entry("lm_head.weight")?.aliasOf == "embed.weight")
    #expect(try back.contentDigest() == table.contentDigest())
    let report = try GraftFile.verify(path: path)
    #expect(report.isValid, "\(report.problems)")
    #expect(report.tensorsChecked == table.count - 1)
  }

  @Test("uncompressed tensors are mapped zero-copy at 64-byte aligned offsets")
  func mappedAndAligned() throws {
    let folder = try TestPaths.scratchFolder("native")
    let path = folder + "/m.graft"
    try GraftFile.write(try GraftFileFixtures.everything(), to: path)
    var unchecked = GraftFile.ReadOptions()
    unchecked.verifyTensorChecksumsOnRead = false
    let back = try GraftFile.read(path: path, options: unchecked)
    for entry in back.storedEntries {
      let mapped = try #require(entry.tensor.bytes as? MappedBytes, "\(entry.name)")
      #expect(mapped.offset % 64 == 0)
      if let base = mapped.contiguousBytes?.baseAddress, entry.tensor.byteCount > 0 {
        #expect(Int(bitPattern: base) % 64 == 0)
      }
    }
    let info = try GraftFile.info(path: path)
    #expect(info.formatVersion == "1.0")
    #expect(info.tensors.map(\.name) == back.names)
    #expect(info.tensors.allSatisfy { $0.offset % 64 == 0 })
    #expect(info.headerOffset % 64 == 0)
    #expect(info.headerOffset + info.headerLength + 32 == info.fileSize)
    #expect(try info.contentDigest == back.contentDigest())
  }

  @Test("an alias listed before its target keeps its position")
  func aliasBeforeTarget() throws {
    var table = TensorTable()
    try table.append("b", GraftFileFixtures.tensor(.float32, [2, 2], seed: 1))
    try table.appendAlias("a", of: "b")
    try table.append("c", GraftFileFixtures.tensor(.uint8, [3], seed: 2))
    table.sort { $0.name < $1.name }
    let path = try TestPaths.scratchFolder("native") + "/alias.graft"
    try GraftFile.write(table, to: path)
    let back = try GraftFile.read(path: path)
    #expect(back.names == ["a", "b", "c"])
    #expect(back.entry("a")?.aliasOf == "b")
    #expect(back.storedEntries.count == 2)
    #expect(try GraftFileFixtures.assertEqual(table, back))
  }

  @Test("structured metadata keeps key order, duplicate keys and value types exactly")
  func structuredMetadata() throws {
    var table = TensorTable()
    try table.append("x", GraftFileFixtures.tensor(.bfloat16, [2], seed: 3))
    table.metadata = JSONObject([
      ("zeta", "string"), ("alpha", .object(JSONObject([("n", 1), ("n", 2)]))), ("one_float", 1.0), ("one_int", 1),
      ("huge", .uint(18_000_000_000_000_000_000)), ("tiny", 5e-324), ("list", [[], .object(JSONObject()), nil]),
    ])
    let path = try TestPaths.scratchFolder("native") + "/meta.graft"
    try GraftFile.write(table, to: path)
    let back = try GraftFile.read(path: path)
    #expect(back.metadata == table.metadata)
    #expect(back.metadata.keys == ["zeta", "alpha", "one_float", "one_int", "huge", "tiny", "list"])
    #expect(back.metadata["one_float"] == .double(1.0))
    #expect(back.metadata["one_int"] == .int(1))
  }

  @Test("non-finite metadata numbers are refused before anything is written")
  func nonFiniteMetadata() throws {
    var table = TensorTable()
    table.metadata["bad"] = .double(.nan)
    let folder = try TestPaths.scratchFolder("native")
    #expect(throws: GraftError.self) { try GraftFile.write(table, to: folder + "/nan.graft") }
    #expect(try FileSystem.contents(of: folder).isEmpty)
  }

  @Test("the appended lineage record's output is the content digest of the table read back")
  func lineageDigest() throws {
    let table = try GraftFileFixtures.everything()
    var options = GraftFile.WriteOptions()
    options.appendLineage = LineageRecord(
      operation: "convert", tool: "graft test", parameters: ["level": 3], inputs: ["xxh64:1111111111111111"])
    for compression in [GraftFile.Compression.none, .deflate(level: 6)] {
      options.compression = compression
      let path = try TestPaths.scratchFolder("native") + "/lineage.graft"
      try GraftFile.write(table, to: path, options: options)
      let back = try GraftFile.read(path: path)
      #expect(back.lineage.count == 2)
      #expect(back.lineage.first == table.lineage.first)
      let last = try #require(back.lineage.last)
      #expect(last.operation == "convert")
      #expect(last.inputs == ["xxh64:1111111111111111"])
      #expect(try last.output == back.contentDigest())
      #expect(try last.output == table.contentDigest())
    }
  }

  @Test("compression: compressible data shrinks, random data is stored raw, both read back exactly")
  func compression() throws {
    var table = TensorTable()
    // Smooth float32 values: shuffling groups the nearly constant exponent bytes.
    let smooth = (0..<600_000).map { Float($0 % 1000) * 0.001 }
    try table.append("smooth", Tensor(float32: smooth, shape: [600, 1000]))
    try table.append(
      "zeros", Tensor(dtype: .bfloat16, shape: [3_000_000], copying: [UInt8](repeating: 0, count: 6_000_000)))
    try table.append("random", GraftFileFixtures.tensor(.float32, [700_000], seed: 9))
    try table.append("fp4", GraftFileFixtures.tensor(.float4E2M1, [10, 10], seed: 10))
    try table.append("c128", Tensor(dtype: .complex128, shape: [1000], copying: [UInt8](repeating: 7, count: 16_000)))
    try table.append("empty", GraftFileFixtures.tensor(.float16, [0, 4], seed: 11))
    try table.appendAlias("tied", of: "smooth")
    var options = GraftFile.WriteOptions()
    options.compression = .deflate(level: 6)
    let folder = try TestPaths.scratchFolder("native")
    try GraftFile.write(table, to: folder + "/c.graft", options: options)
    try GraftFile.write(table, to: folder + "/u.graft")
    let compressedSize = try FileSystem.size(of: folder + "/c.graft")
    let plainSize = try FileSystem.size(of: folder + "/u.graft")
    #expect(compressedSize < plainSize / 2)

    let info = try GraftFile.info(path: folder + "/c.graft")
    let byName = Dictionary(uniqueKeysWithValues: info.tensors.map { ($0.name, $0) })
    #expect(byName["smooth"]?.compression == .deflate(level: 6))
    #expect((byName["zeros"]?.storedBytes ?? .max) < 20_000)
    #expect(byName["random"]?.compression == GraftFile.Compression.none)
    #expect(byName["random"]?.storedBytes == 2_800_000)
    #expect(byName["c128"]?.compression == .deflate(level: 6))

    let back = try GraftFile.read(path: folder + "/c.graft")
    #expect(try GraftFileFixtures.assertEqual(table, back))
    var unchecked = GraftFile.ReadOptions()
    unchecked.verifyTensorChecksumsOnRead = false
    let raw = try GraftFile.read(path: folder + "/c.graft", options: unchecked)
    #expect(raw["random"]?.bytes is MappedBytes)
    #expect(raw["smooth"]?.bytes is ProducedBytes)
    #expect(try GraftFile.verify(path: folder + "/c.graft").isValid)

    // Random access across block boundaries decompresses only what it needs and matches the original.
    let smoothBytes = try #require(table["smooth"]).readAllBytes()
    let source = try #require(back["smooth"]).bytes
    for range in [0..<10, 1_048_570..<1_048_590, 2_000_000..<2_400_000, 2_399_990..<2_400_000] {
      let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: range.count, alignment: 64)
      defer { buffer.deallocate() }
      try source.copyBytes(in: range, into: buffer)
      #expect(Array(buffer) == Array(smoothBytes[range]))
    }
    var verifying = GraftFile.ReadOptions()
    verifying.verifyTensorChecksumsOnRead = true
    #expect(try GraftFileFixtures.assertEqual(table, GraftFile.read(path: folder + "/c.graft", options: verifying)))
  }

  @Test("two writes of the same table are byte-identical, compressed or not")
  func determinism() throws {
    let table = try GraftFileFixtures.everything()
    let folder = try TestPaths.scratchFolder("native")
    for (k, compression) in [GraftFile.Compression.none, .deflate(level: 1), .deflate(level: 9)].enumerated() {
      var options = GraftFile.WriteOptions()
      options.compression = compression
      options.appendLineage = LineageRecord(operation: "copy", tool: "test")
      try GraftFile.write(table, to: folder + "/a\(k).graft", options: options)
      try GraftFile.write(table, to: folder + "/b\(k).graft", options: options)
      #expect(try FileSystem.readAll(folder + "/a\(k).graft") == FileSystem.readAll(folder + "/b\(k).graft"))
    }
    // Reading a file and writing it again (lineage included) reproduces it exactly.
    try GraftFile.write(GraftFile.read(path: folder + "/a0.graft"), to: folder + "/c0.graft")
    #expect(try FileSystem.readAll(folder + "/c0.graft") == FileSystem.readAll(folder + "/a0.graft"))
  }

  @Test(
    "reading checks every tensor's checksum: whole reads, streamed reads and random access fail on a flipped byte",
    arguments: [false, true])
  func verifyOnRead(compressed: Bool) throws {
    var table = TensorTable()
    try table.append("good", GraftFileFixtures.tensor(.float32, [16], seed: 1))
    // Compressible, so that the deflated variant really stores deflated blocks.
    try table.append("bad", Tensor(float32: (0..<(1 << 19)).map { Float($0 % 7) }, shape: [1 << 19]))
    let folder = try TestPaths.scratchFolder("native")
    var write = GraftFile.WriteOptions()
    if compressed { write.compression = .deflate(level: 6) }
    try GraftFile.write(table, to: folder + "/v.graft", options: write)
    var bytes = try FileSystem.readAll(folder + "/v.graft")
    let info = try GraftFile.info(path: folder + "/v.graft")
    let bad = try #require(info.tensors.first { $0.name == "bad" })
    #expect(compressed == (bad.storedBytes < bad.byteCount))
    // The last stored byte: a streamed read finds it only with the final chunk.
    bytes[bad.offset + bad.storedBytes - 1] ^= 0x10
    try FileSystem.writeAll(bytes, to: folder + "/v2.graft")

    func expectMismatch(_ body: () throws -> Void) {
      let error = #expect(throws: GraftError.self) { try body() }
      #expect(error?.code == .checksumMismatch, "\(String(describing: error))")
      #expect(error?.tensor == "bad")
      #expect(error?.file == folder + "/v2.graft")
      #expect(error?.byteOffset != nil)
    }
    let read = { try GraftFile.read(path: folder + "/v2.graft") }
    #expect(try read()["good"]?.readAllBytes() == table["good"]?.readAllBytes())
    expectMismatch { _ = try read()["bad"]?.readAllBytes() }
    expectMismatch { try read()["bad"]?.forEachChunk(chunkSize: 1 << 16) { _ in } }
    expectMismatch {
      let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 64)
      defer { buffer.deallocate() }
      try read()["bad"]?.bytes.copyBytes(in: 4096..<4160, into: buffer)
    }
    // A failed tensor stays failed; a good one is served zero-copy once checked.
    let table2 = try read()
    expectMismatch { _ = try table2["bad"]?.readAllBytes() }
    expectMismatch { _ = try table2["bad"]?.readAllBytes() }
    _ = try table2["good"]?.readAllBytes()
    #expect(table2["good"]?.bytes.contiguousBytes != nil || compressed)
    // Asked first, before any read: the mapping once the check passes (not a copy decided by the hasher's timing);
    // a failed check gives no mapping, and the copy that follows throws.
    #expect(try read()["good"]?.bytes.contiguousBytes != nil || compressed)
    let fresh = try read()
    #expect(fresh["bad"]?.bytes.contiguousBytes == nil)
    expectMismatch { _ = try fresh["bad"]?.readAllBytes() }

    var unchecked = GraftFile.ReadOptions()
    unchecked.verifyTensorChecksumsOnRead = false
    if !compressed {
      let lazy = try GraftFile.read(path: folder + "/v2.graft", options: unchecked)
      #expect(try lazy["bad"]?.readAllBytes() != table["bad"]?.readAllBytes())
    }
    let report = try GraftFile.verify(path: folder + "/v2.graft")
    #expect(report.problems.first?.tensor == "bad")
  }

  @Test("an empty table and a table of only zero-size tensors are valid files")
  func emptyTables() throws {
    let folder = try TestPaths.scratchFolder("native")
    var empty = TensorTable()
    try GraftFile.write(empty, to: folder + "/empty.graft")
    #expect(try FileSystem.size(of: folder + "/empty.graft") > 96)
    #expect(try GraftFile.read(path: folder + "/empty.graft").isEmpty)
    #expect(try GraftFile.verify(path: folder + "/empty.graft").isValid)
    try empty.append("none", GraftFileFixtures.tensor(.float32, [0], seed: 1))
    try empty.append("none2", GraftFileFixtures.tensor(.complex128, [2, 0], seed: 1))
    var options = GraftFile.WriteOptions()
    options.compression = .deflate(level: 6)
    try GraftFile.write(empty, to: folder + "/zero.graft", options: options)
    let back = try GraftFile.read(path: folder + "/zero.graft")
    #expect(back.names == ["none", "none2"])
    #expect(back["none2"]?.shape == [2, 0])
    #expect(
      try GraftFile.info(path: folder + "/zero.graft").tensors.allSatisfy { $0.offset == 64 && $0.storedBytes == 0 })
  }

  @Test("writing over an input is refused and the input survives")
  func refusesInput() throws {
    let folder = try TestPaths.scratchFolder("native")
    let path = folder + "/in.graft"
    try GraftFile.write(try GraftFileFixtures.everything(), to: path)
    let before = try FileSystem.readAll(path)
    let table = try GraftFile.read(path: path)
    let error = try #require(throws: GraftError.self) { try GraftFile.write(table, to: path, inputs: [path]) }
    #expect(error.code == .invalidArgument)
    #expect(try FileSystem.readAll(path) == before)
  }
}
