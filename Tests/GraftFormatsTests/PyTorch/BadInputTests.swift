import GraftCore
import GraftFormats
import TestSupport
import Testing

@Suite struct BadInputTests {
  @Test func storageRecordShorterThanItsPersistentID() {
    let e = graftError { _ = try PyTorchCheckpoint.open(path: TestPaths.fixture("pytorch/short_storage.pth")) }
    #expect(e?.code == .invalidTensorInfo)
    #expect(e?.message.contains("'archive/data/0' has 8 bytes") == true)
    #expect(e?.byteOffset != nil)
  }

  @Test func viewBeyondItsStorage() throws {
    let archive = try PyTorchCheckpoint.open(path: TestPaths.fixture("pytorch/bad_extent.pth"))
    let e = graftError { _ = try archive.table(select: nil, stripPrefixes: []) }
    #expect(e?.code == .invalidTensorInfo)
    #expect(e?.tensor == "t")
    #expect(e?.message.contains("needs 100 elements") == true)
  }

  @Test func negativeStride() {
    let e = graftError { _ = try PyTorchCheckpoint.open(path: TestPaths.fixture("pytorch/negative_stride.pth")) }
    #expect(e?.code == .invalidTensorInfo)
    #expect(e?.message.contains("negative stride") == true)
  }

  @Test func corruptPickleFailsItsCRC() throws {
    let path = try editedFixture("pytorch/views.pth") { replaceAll(&$0, "transposed", "transposeX") }
    let e = graftError { _ = try PyTorchCheckpoint.open(path: path) }
    #expect(e?.code == .checksumMismatch)
    #expect(e?.message.contains("views/data.pkl") == true)
  }

  @Test func missingStorageRecord() throws {
    let path = try editedFixture("pytorch/views.pth") { replaceAll(&$0, "views/data/0", "views/data/9") }
    let e = graftError { _ = try PyTorchCheckpoint.open(path: path) }
    #expect(e?.code == .invalidTensorInfo)
    #expect(e?.message.contains("no record 'views/data/0'") == true)
  }

  @Test func truncatedZip() throws {
    let path = try editedFixture("pytorch/vit_tiny.pth") { $0.removeLast($0.count / 2) }
    let e = graftError { _ = try PyTorchCheckpoint.open(path: path) }
    #expect(e?.code == .truncated)
  }

  @Test func truncatedLegacyStream() throws {
    let path = try editedFixture("pytorch/legacy.pth") { $0.removeLast(40) }
    let e = graftError { _ = try PyTorchCheckpoint.open(path: path) }
    #expect(e?.code == .truncated)
  }

  @Test func zipBombRatioIsCapped() {
    let e = graftError { _ = try NumPyFormat.readNPZ(path: TestPaths.fixture("numpy/bomb.npz")) }
    #expect(e?.code == .limitExceeded)
    #expect(e?.message.contains("compression ratio") == true)
  }

  @Test func gitLFSPointerIsExplained() throws {
    let folder = try TestPaths.scratchFolder("pytorch")
    let path = folder + "/model.bin"
    try FileSystem.writeAll(
      Array("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12\n".utf8), to: path)
    let e = graftError { _ = try PyTorchCheckpoint.open(path: path) }
    #expect(e?.code == .unrecognizedFormat)
    #expect(e?.message.contains("git lfs pull") == true)
  }

  @Test func npzIsNotACheckpoint() {
    let e = graftError { _ = try PyTorchCheckpoint.open(path: TestPaths.fixture("numpy/arrays.npz")) }
    #expect(e?.code == .unrecognizedFormat)
    #expect(e?.message.contains("NumPy .npz") == true)
  }
}

/// Keeps every call symbolic.
final class InertInterpreter: PickleInterpreter {
  func call(_ callable: String, args: [PickleValue], at offset: Int) throws(GraftError) -> PickleValue? { nil }
  func build(_ target: any PickleExternal, state: PickleValue, at offset: Int) throws(GraftError) -> Bool { false }
  func persistentLoad(_ pid: PickleValue, at offset: Int) throws(GraftError) -> PickleValue { pid }
}

@Suite struct PickleMachineTests {
  func run(_ bytes: [UInt8], limits: PickleLimits = PickleLimits()) throws(GraftError) -> PickleGraph {
    let result = bytes.withUnsafeBytes { raw in
      Result { () throws(GraftError) in
        try PickleMachine.run(raw, limits: limits, interpreter: InertInterpreter()).graph
      }
    }
    return try result.get()
  }

  @Test func protocol0InstAndObjStaySymbolic() throws {
    // (S'touch /tmp/x'\nios\nsystem\n.  — INST os.system with one argument.
    let inst = Array("(S'touch /tmp/graft-inst-marker'\nios\nsystem\n.".utf8)
    let g = try run(inst)
    #expect(g.root.node?.callable == "os.system")
    #expect(g.root.node?.construction == "INST")
    #expect(g.globals == ["os.system"])
    #expect(PyTorchArchive.isDangerous("os.system"))
    // (cbuiltins\nexec\nS'print(1)'\no.  — OBJ with the class first.
    let obj = Array("(cbuiltins\nexec\nS'print(1)'\no.".utf8)
    let g2 = try run(obj)
    #expect(g2.root.node?.callable == "builtins.exec")
    #expect(g2.root.node?.construction == "OBJ")
    #expect(PyTorchArchive.isDangerous("builtins.exec"))
    #expect(!FileSystem.exists("/tmp/graft-inst-marker"))
  }

  @Test func python2NamesAreMappedAtProtocol2() throws {
    let g = try run([0x80, 0x02] + Array("c__builtin__\neval\n".utf8) + [0x29, 0x52, 0x2E])
    #expect(g.globals == ["builtins.eval"])
  }

  @Test func nestingDepthIsCapped() {
    var bytes: [UInt8] = [0x80, 0x02]
    bytes += [UInt8](repeating: 0x5D, count: 300)
    bytes += [UInt8](repeating: 0x61, count: 299)
    bytes.append(0x2E)
    #expect(throws: GraftError.self) { try run(bytes) }
    let e = graftError { _ = try run(bytes) }
    #expect(e?.code == .limitExceeded)
    #expect(e?.message.contains("deeper than 256") == true)
  }

  @Test func markDepthIsCapped() {
    let e = graftError { _ = try run([0x80, 0x02] + [UInt8](repeating: 0x28, count: 300) + [0x2E]) }
    #expect(e?.code == .limitExceeded)
  }

  @Test func stackAndPayloadCaps() {
    var limits = PickleLimits()
    limits.maxStack = 3
    let e = graftError { _ = try run([0x80, 0x02, 0x4B, 1, 0x4B, 2, 0x4B, 3, 0x4B, 4, 0x2E], limits: limits) }
    #expect(e?.code == .limitExceeded)
    limits = PickleLimits()
    limits.maxPayloadBytes = 4
    let e2 = graftError {
      _ = try run([0x80, 0x02, 0x58, 8, 0, 0, 0] + Array("abcdefgh".utf8) + [0x2E], limits: limits)
    }
    #expect(e2?.code == .limitExceeded)
    #expect(e2?.byteOffset == 2)
  }

  @Test func malformedStreams() {
    #expect(graftError { _ = try run([0x80, 0x02, 0x68, 5, 0x2E]) }?.message.contains("memo entry 5") == true)
    #expect(graftError { _ = try run([0x80, 0x02, 0x58, 0xFF, 0, 0, 0, 0x61]) }?.code == .truncated)
    #expect(graftError { _ = try run([0x80, 0x02, 0xFF]) }?.message.contains("unknown pickle opcode 0xff") == true)
    #expect(graftError { _ = try run([0x80, 0x02, 0x2E]) }?.code == .invalidHeader)
    #expect(graftError { _ = try run([0x80, 0x05, 0x97, 0x2E]) }?.code == .unsupported)
  }

  @Test func cyclesAreDetectedAndTornDownFlat() throws {
    // ] q0 h0 a .  — a list that contains itself.
    let g = try run([0x80, 0x02, 0x5D, 0x71, 0, 0x68, 0, 0x61, 0x2E])
    #expect(g.hasCycles)
    #expect(g.root.node?.items.count == 1)
  }

  @Test func integersAndFloats() throws {
    // LONG1 of 9 bytes, BINFLOAT 1.5 (big-endian), negative BININT.
    let long1: [UInt8] = [0x8A, 9, 1, 0, 0, 0, 0, 0, 0, 0, 1]
    let g = try run(
      [0x80, 0x02, 0x28] + long1 + [0x47, 0x3F, 0xF8, 0, 0, 0, 0, 0, 0, 0x4A, 0xFE, 0xFF, 0xFF, 0xFF, 0x74, 0x2E])
    let items = try #require(g.root.sequence)
    if case .bigInt(let b) = items[0] { #expect(b.count == 9) } else { Issue.record("expected a big integer") }
    if case .float(let d) = items[1] { #expect(d == 1.5) } else { Issue.record("expected a float") }
    #expect(items[2].int == -2)
  }
}
