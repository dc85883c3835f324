import GraftCore
import TestSupport
import Testing

@testable import GraftFormats

@Suite("Native .graft robustness")
struct GraftFileRobustnessTests {
  /// A small file with a stored tensor, a deflated one, an alias, metadata and lineage.
  static func smallFile(compressed: Bool = true) throws -> [UInt8] {
    var table = TensorTable()
    try table.append("w", GraftFileFixtures.tensor(.float16, [2, 3], seed: 1))
    try table.append("z", Tensor(dtype: .float32, shape: [64], copying: [UInt8](repeating: 0, count: 256)))
    try table.appendAlias("tied", of: "w")
    try table.append("s", GraftFileFixtures.tensor(.uint8, [], seed: 2))
    table.metadata = JSONObject([("k", [1, "v"])])
    table.lineage = [LineageRecord(operation: "op", tool: "t")]
    var options = GraftFile.WriteOptions()
    if compressed { options.compression = .deflate(level: 9) }
    let path = try TestPaths.scratchFolder("robust") + "/small.graft"
    try GraftFile.write(table, to: path, options: options)
    return try FileSystem.readAll(path)
  }

  @Test("verify detects every single-bit flip of a small file, and every problem is located")
  func everyBitFlip() throws {
    let original = try Self.smallFile()
    #expect(GraftFileFixtures.verify(original).isValid)
    #expect(try GraftFile.info(path: writeScratch(original)).tensors.contains { $0.compression != .none })
    var undetected: [Int] = []
    for bit in 0..<(original.count * 8) {
      var bytes = original
      bytes[bit / 8] ^= UInt8(1) << UInt8(bit % 8)
      let report = GraftFileFixtures.verify(bytes)
      if report.isValid { undetected.append(bit) }
      for problem in report.problems {
        #expect(problem.file == "mem.graft" && problem.byteOffset != nil, "bit \(bit): \(problem)")
      }
    }
    #expect(undetected.isEmpty, "undetected bit flips: \(undetected.prefix(20))")
  }

  @Test("readers never crash on flipped bits: sampled flips through the real file path")
  func flippedFilesRead() throws {
    let original = try Self.smallFile()
    let folder = try TestPaths.scratchFolder("robust")
    var options = GraftFile.ReadOptions()
    options.verifyTensorChecksumsOnRead = true
    var failures = 0
    for bit in stride(from: 3, to: original.count * 8, by: 11) {
      var bytes = original
      bytes[bit / 8] ^= UInt8(1) << UInt8(bit % 8)
      let path = folder + "/f.graft"
      try FileSystem.writeAll(bytes, to: path)
      do {
        let table = try GraftFile.read(path: path, options: options)
        for entry in table.entries { _ = try entry.tensor.readAllBytes() }
      } catch let error as GraftError {
        failures += 1
        #expect(error.file == path)
      }
    }
    #expect(failures > 0)
  }

  @Test("truncation at every offset is an error, never a crash")
  func truncation() throws {
    let original = try Self.smallFile()
    for length in 0..<original.count {
      let prefix = Array(original[0..<length])
      let error = GraftFileFixtures.parseError(prefix)
      #expect(error != nil, "a \(length)-byte prefix parsed")
      #expect(error?.byteOffset != nil)
      #expect(!GraftFileFixtures.verify(prefix).isValid)
    }
    let folder = try TestPaths.scratchFolder("robust")
    for length in stride(from: 0, to: original.count, by: 37) {
      let path = folder + "/t.graft"
      try FileSystem.writeAll(Array(original[0..<length]), to: path)
      let error = try #require(throws: GraftError.self) { try GraftFile.read(path: path) }
      #expect(error.file == path)
    }
  }

  @Test("bad magic, newer versions, and minor versions with unknown fields")
  func versions() throws {
    let original = try Self.smallFile()
    var bad = original
    bad[0] = UInt8(ascii: "X")
    #expect(GraftFileFixtures.parseError(bad)?.code == .unrecognizedFormat)
    #expect(GraftFileFixtures.parseError(bad)?.byteOffset == 0)

    var newer = original
    newer[8] = 2
    let error = try #require(GraftFileFixtures.parseError(newer))
    #expect(error.code == .unsupported)
    #expect(error.message.contains("newer"))
    #expect(error.byteOffset == 8)

    // A later minor version may add fields; this reader ignores them.
    var minor = original
    minor[10] = 7
    minor = GraftFileFixtures.reindex(minor) { index in
      var s = index.replacingFirst("{\"tensors\":", with: "{\"future\":{\"x\":[1,2]},\"tensors\":")
      s = s.replacingFirst("\"dtype\":\"F16\"", with: "\"hint\":\"new\",\"dtype\":\"F16\"")
      return s
    }
    #expect(GraftFileFixtures.parseError(minor) == nil)
    #expect(GraftFileFixtures.verify(minor).isValid)
    #expect(try GraftFile.info(path: writeScratch(minor)).minorVersion == 7)
  }

  @Test("forged indexes with a valid checksum are refused precisely")
  func forgedIndexes() throws {
    let original = try Self.smallFile(compressed: false)
    let info = try GraftFile.info(path: writeScratch(original))
    let w = try #require(info.tensors.first { $0.name == "w" })
    let z = try #require(info.tensors.first { $0.name == "z" })

    func expectError(
      _ code: GraftError.Code, tensor: String?, _ transform: (String) -> String,
      sourceLocation: SourceLocation = #_sourceLocation
    ) {
      let forged = GraftFileFixtures.reindex(original, transform)
      let error = GraftFileFixtures.parseError(forged)
      #expect(error?.code == code, "\(String(describing: error))", sourceLocation: sourceLocation)
      #expect(error?.tensor == tensor, sourceLocation: sourceLocation)
      #expect(error?.file == "mem.graft" && error?.byteOffset != nil, sourceLocation: sourceLocation)
      #expect(!GraftFileFixtures.verify(forged).isValid, sourceLocation: sourceLocation)
    }
    expectError(.invalidOffset, tensor: "w") { $0.replacingFirst("\"offset\":\(w.offset)", with: "\"offset\":65") }
    expectError(.invalidOffset, tensor: "z") { $0.replacingFirst("\"offset\":\(z.offset)", with: "\"offset\":64") }
    expectError(.invalidOffset, tensor: "z") {
      $0.replacingFirst("\"offset\":\(z.offset)", with: "\"offset\":\(z.offset + 64)")
    }
    expectError(.invalidTensorInfo, tensor: "w") {
      $0.replacingFirst("\"stored_length\":12", with: "\"stored_length\":13")
    }
    expectError(.invalidOffset, tensor: "z") {
      $0.replacingFirst("\"stored_length\":256", with: "\"stored_length\":99999999999")
    }
    expectError(.invalidHeader, tensor: "tied") {
      $0.replacingFirst("\"alias_of\":\"w\"", with: "\"alias_of\":\"nope\"")
    }
    expectError(.invalidHeader, tensor: "tied") {
      $0.replacingFirst("\"alias_of\":\"w\"", with: "\"alias_of\":\"tied\"")
    }
    expectError(.invalidHeader, tensor: "tied") {
      $0.replacingFirst(
        "{\"name\":\"tied\",\"alias_of\":\"w\"}",
        with: "{\"name\":\"tied\",\"alias_of\":\"loop\"},{\"name\":\"loop\",\"alias_of\":\"tied\"}")
    }
    expectError(.duplicateKey, tensor: "s") { $0.replacingFirst("\"name\":\"tied\"", with: "\"name\":\"s\"") }
    expectError(.unknownDType, tensor: "w") { $0.replacingFirst("\"F16\"", with: "\"F17\"") }
    expectError(.overflow, tensor: "w") {
      $0.replacingFirst("\"shape\":[2,3]", with: "\"shape\":[4294967296,4294967296,4]")
    }
    expectError(.invalidHeader, tensor: "w") { $0.replacingFirst("\"shape\":[2,3]", with: "\"shape\":[2,-3]") }
    expectError(.invalidJSON, tensor: nil) { String($0.dropLast(5)) }
    expectError(.invalidHeader, tensor: nil) { _ in "[]" }
    expectError(.invalidHeader, tensor: nil) { $0.replacingFirst("\"content_digest\"", with: "\"content_digesT\"") }
    expectError(.duplicateKey, tensor: nil) { $0.replacingFirst("{\"tensors\":", with: "{\"lineage\":[],\"tensors\":") }
    expectError(.unsupported, tensor: "w") {
      $0.replacingFirst("\"checksum\"", with: "\"compression\":{\"codec\":\"zstd\"},\"checksum\"")
    }
  }

  @Test("forged block tables and corrupt deflate streams are errors with the tensor and offset")
  func forgedBlocks() throws {
    let original = try Self.smallFile()
    let info = try GraftFile.info(path: writeScratch(original))
    let z = try #require(info.tensors.first { $0.name == "z" })
    #expect(z.compression == .deflate(level: 9))
    let blocks = "\"blocks\":[\(z.storedBytes)]"
    // A ratio beyond deflate's 1032:1 is a bomb, refused before any decompression.
    let bomb = GraftFileFixtures.reindex(original) {
      $0.replacingFirst("\"shape\":[64]", with: "\"shape\":[262144]").replacingFirst(
        blocks, with: "\"blocks\":[\(z.storedBytes)]")
    }
    #expect(GraftFileFixtures.parseError(bomb)?.tensor == "z")
    let wrongCount = GraftFileFixtures.reindex(original) {
      $0.replacingFirst(blocks, with: "\"blocks\":[\(z.storedBytes),1]")
    }
    #expect(GraftFileFixtures.parseError(wrongCount)?.code == .invalidHeader)
    // A stream that inflates to more than declared: claim fewer elements but keep the stream.
    let longer = GraftFileFixtures.reindex(original) { $0.replacingFirst("\"shape\":[64]", with: "\"shape\":[63]") }
    let report = GraftFileFixtures.verify(longer)
    #expect(report.problems.first?.tensor == "z")
    #expect(report.problems.first?.code == .invalidTensorInfo)
    #expect(report.problems.first?.byteOffset == z.offset)
  }

  @Test("an error in the middle of a write leaves neither the destination nor a temporary file")
  func atomicity() throws {
    let folder = try TestPaths.scratchFolder("robust")
    struct Boom: Error {}
    for compression in [GraftFile.Compression.none, .deflate(level: 1)] {
      var table = TensorTable()
      try table.append("ok", GraftFileFixtures.tensor(.float32, [1000], seed: 1))
      let failing = ProducedBytes(byteCount: 16 << 20) { range, buffer in
        if range.lowerBound >= 4 << 20 { throw Boom() }
        buffer.initializeMemory(as: UInt8.self, repeating: 1)
      }
      try table.append("failing", Tensor(dtype: .uint8, shape: [16 << 20], bytes: failing))
      var options = GraftFile.WriteOptions()
      options.compression = compression
      let error = try #require(throws: GraftError.self) {
        try GraftFile.write(table, to: folder + "/out.graft", options: options)
      }
      #expect(error.tensor == "failing")
      #expect(error.cause is Boom)
      #expect(try FileSystem.contents(of: folder).isEmpty)
    }
  }

  func writeScratch(_ bytes: [UInt8]) throws -> String {
    let path = try TestPaths.scratchFolder("robust") + "/x.graft"
    try FileSystem.writeAll(bytes, to: path)
    return path
  }
}

extension String {
  /// The string with the first occurrence of `target` replaced (unchanged when absent).
  func replacingFirst(_ target: String, with replacement: String) -> String {
    let a = Array(utf8)
    let t = Array(target.utf8)
    guard !t.isEmpty, t.count <= a.count else { return self }
    for i in 0...(a.count - t.count) where Array(a[i..<(i + t.count)]) == t {
      return String(decoding: Array(a[0..<i]) + Array(replacement.utf8) + Array(a[(i + t.count)...]), as: UTF8.self)
    }
    return self
  }
}
