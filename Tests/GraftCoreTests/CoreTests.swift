import GraftCore
import TestSupport
import Testing

@Suite("XXH64")
struct XXHashTests {
  @Test("matches the reference vectors")
  func vectors() {
    #expect(XXHash64.hash([UInt8]()) == 0xEF46_DB37_51D8_E999)
    #expect(XXHash64.hash(Array("a".utf8)) == 0xD24E_C4F1_A98C_6E5B)
    #expect(XXHash64.hash(Array("abc".utf8)) == 0x44BC_2CF5_AD77_0999)
    #expect(
      XXHash64.hash(Array("Nobody inspects the spammish repetition".utf8)) == 0xFBCE_A83C_8A37_8BF1)
  }

  @Test("streaming in odd pieces equals one shot")
  func streaming() {
    var rng = SplitMix64(seed: 7)
    let data = (0..<1000).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    var h = XXHash64()
    var i = 0
    for piece in [1, 3, 31, 32, 33, 7, 100, 793] {
      h.update(Array(data[i..<min(data.count, i + piece)]))
      i = min(data.count, i + piece)
    }
    #expect(h.finalize() == XXHash64.hash(data))
  }
}

@Suite("ByteReader")
struct ByteReaderTests {
  @Test("reads integers in both byte orders and reports truncation with an absolute offset")
  func reads() throws {
    let bytes: [UInt8] = [1, 0, 0, 0, 0, 0, 0, 2, 9]
    try bytes.withUnsafeBytes { raw in
      var r = ByteReader(raw, baseOffset: 100, file: "f.bin")
      #expect(try r.readLittleEndian(UInt32.self) == 1)
      #expect(try r.readBigEndian(UInt32.self) == 2)
      #expect(r.absoluteOffset == 108)
      do {
        _ = try r.readLittleEndian(UInt16.self)
        Issue.record("expected truncation")
      } catch let error as GraftError {
        #expect(error.code == .truncated)
        #expect(error.byteOffset == 108)
        #expect(error.file == "f.bin")
      }
    }
  }

  @Test("checked arithmetic refuses overflow and negatives")
  func checked() {
    #expect(Checked.product([2, Int.max / 2 + 1]) == nil)
    #expect(Checked.product([2, -1]) == nil)
    #expect(Checked.product([]) == 1)
    #expect(Checked.add(Int.max, 1) == nil)
  }
}

@Suite("DType")
struct DTypeTests {
  @Test("sort order follows the safetensors crate enum")
  func order() {
    #expect(DType.bool.sortRank < DType.float4E2M1.sortRank)
    #expect(DType.float8E5M2.sortRank < DType.float8E4M3.sortRank)
    #expect(DType.float32.sortRank < DType.complex64.sortRank)
    #expect(DType.complex64.sortRank < DType.float64.sortRank)
    #expect(DType.int64.sortRank < DType.uint64.sortRank)
  }

  @Test(
    "bit widths",
    arguments: [
      (DType.float4E2M1, 4), (.bool, 8), (.bfloat16, 16), (.float32, 32), (.complex64, 64), (.complex128, 128),
    ])
  func widths(d: DType, bits: Int) { #expect(d.bitWidth == bits) }

  @Test("parses aliases")
  func parsing() {
    #expect(DType(parsing: "bf16") == .bfloat16)
    #expect(DType(parsing: "float8_e4m3fn") == .float8E4M3)
    #expect(DType(parsing: "F8_E5M2") == .float8E5M2)
    #expect(DType(parsing: "q4") == nil)
    #expect(DType.float4E2M1.byteCount(elements: 3) == nil)
    #expect(DType.float4E2M1.byteCount(elements: 4) == 2)
  }
}

@Suite("AtomicOutputFile")
struct AtomicOutputTests {
  @Test("commit renames into place and leaves no temp files")
  func commit() throws {
    let dir = try TestPaths.scratchFolder("atomic")
    var out = try AtomicOutputFile(destination: dir + "/x.bin")
    try out.write([1, 2, 3])
    try out.writeZeros(5)
    try out.commit()
    #expect(try FileSystem.readAll(dir + "/x.bin") == [1, 2, 3, 0, 0, 0, 0, 0])
    #expect(try FileSystem.contents(of: dir) == ["x.bin"])
  }

  @Test("an abandoned writer leaves neither the destination nor a temp file, and keeps the old file")
  func abandon() throws {
    let dir = try TestPaths.scratchFolder("atomic")
    try FileSystem.writeAll([7, 7], to: dir + "/old.bin")
    do {
      var out = try AtomicOutputFile(destination: dir + "/old.bin")
      try out.write([UInt8](repeating: 1, count: 3 << 20))
      _ = out
    }
    #expect(try FileSystem.readAll(dir + "/old.bin") == [7, 7])
    #expect(try FileSystem.contents(of: dir) == ["old.bin"])
  }

  @Test("refuses to write over an input, into a missing folder, or onto a directory")
  func refusals() throws {
    let dir = try TestPaths.scratchFolder("atomic")
    try FileSystem.writeAll([1], to: dir + "/in.bin")
    #expect(throws: GraftError.self) { try AtomicOutputFile(destination: dir + "/in.bin", inputs: [dir + "/in.bin"]) }
    #expect(throws: GraftError.self) { try AtomicOutputFile(destination: dir + "/missing/x.bin") }
    #expect(throws: GraftError.self) { try AtomicOutputFile(destination: dir) }
  }

  @Test("a temporary path for a library that writes the file itself: renamed on success, removed on failure")
  func temporaryPath() throws {
    let dir = try TestPaths.scratchFolder("atomic")
    try FileSystem.writeAll([7, 7], to: dir + "/x.bin")
    let seen = try AtomicOutputFile.withTemporaryPath(destination: dir + "/x.bin") { temporary in
      #expect(!FileSystem.exists(temporary))
      #expect(AtomicOutputFile.folder(of: temporary) == dir)
      try FileSystem.writeAll([1, 2, 3], to: temporary)
      return temporary
    }
    #expect(try FileSystem.readAll(dir + "/x.bin") == [1, 2, 3])
    #expect(!FileSystem.exists(seen))
    #expect(try FileSystem.contents(of: dir) == ["x.bin"])

    struct Refused: Error {}
    for failure in [GraftError(.io, "the library failed"), Refused()] as [any Error] {
      do {
        try AtomicOutputFile.withTemporaryPath(destination: dir + "/x.bin") { temporary in
          try FileSystem.writeAll([9], to: temporary)
          throw failure
        }
        Issue.record("expected the body's error")
      } catch let error as GraftError {
        #expect(error.file == dir + "/x.bin")
        #expect(error.message == "the library failed")
      } catch {
        #expect(error is Refused)
      }
      #expect(try FileSystem.readAll(dir + "/x.bin") == [1, 2, 3])
      #expect(try FileSystem.contents(of: dir) == ["x.bin"])
    }
    #expect(throws: GraftError.self) {
      try AtomicOutputFile.withTemporaryPath(destination: dir + "/x.bin", inputs: [dir + "/x.bin"]) { _ in }
    }
    #expect(throws: GraftError.self) {
      try AtomicOutputFile.withTemporaryPath(destination: dir + "/missing/x.bin") {
        try FileSystem.writeAll([1], to: $0)
      }
    }
  }
}

@Suite("TensorTable")
struct TensorTableTests {
  func tensor(_ v: [Float]) -> Tensor { Tensor(float32: v, shape: [v.count]) }

  @Test("aliases follow renames and survive removal of their target")
  func aliases() throws {
    var t = TensorTable()
    try t.append("embed.weight", tensor([1, 2]))
    try t.appendAlias("head.weight", of: "embed.weight")
    try t.append("bias", tensor([3]))
    #expect(t.parameterCount == 3)
    #expect(t.aliases.map(\.alias) == ["head.weight"])
    try t.rename { $0.hasPrefix("embed") ? "tok." + $0 : nil }
    #expect(t.entry("head.weight")?.aliasOf == "tok.embed.weight")
    t.removeAll { $0.name == "tok.embed.weight" }
    #expect(t.entry("head.weight")?.aliasOf == nil)
    #expect(t.names == ["head.weight", "bias"])
    #expect(throws: GraftError.self) { try t.append("bias", tensor([0])) }
  }

  @Test("content digest ignores order and format but sees every byte")
  func digest() throws {
    var a = TensorTable()
    try a.append("x", tensor([1, 2]))
    try a.append("y", tensor([3]))
    var b = TensorTable()
    try b.append("y", tensor([3]))
    try b.append("x", tensor([1, 2]))
    #expect(try a.contentDigest() == b.contentDigest())
    try b.replace("x", with: tensor([1, 2.0000002]))
    #expect(try a.contentDigest() != b.contentDigest())
  }

  @Test("validated tensors check byte counts")
  func validated() {
    #expect(throws: GraftError.self) {
      try Tensor.validated(dtype: .float32, shape: [3], bytes: HeapBytes([0, 0, 0, 0]))
    }
  }
}
