import Glibc
import Graft
import TestSupport
import Testing

/// Every cap of `Formats/limits.md` hit by a crafted file.
///
/// The reader must refuse it with the documented error, before allocating anything proportional to the declared size.
/// Caps that already have a crafted-file test elsewhere are listed in `Formats/limits.md` with that test and are not
/// repeated here.
@Suite("Resource caps: each one refused with a crafted file")
struct HardeningLimitTests {
  /// Runs `body` and returns the `GraftError` it threw (recording an issue when it threw nothing or something else).
  static func error(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> GraftError? {
    do {
      try body()
      Issue.record("expected an error", sourceLocation: sourceLocation)
    } catch let error as GraftError {
      return error
    } catch {
      Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
    return nil
  }

  static func write(_ bytes: [UInt8], _ name: String) throws -> String {
    let path = try TestPaths.scratchFolder("limits") + "/" + name
    try FileSystem.writeAll(bytes, to: path)
    return path
  }

  static func le16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF)] }
  static func le32(_ v: Int) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * $0)) & 0xFF) } }
  static func le64(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) } }

  /// A zip file with the given members (name, method, data, declared uncompressed size) and, optionally, an end
  /// record that lies about the member count.
  static func zip(
    _ members: [(name: String, method: Int, data: [UInt8], uncompressed: Int)], declaredCount: Int? = nil
  ) -> [UInt8] {
    var out: [UInt8] = []
    var central: [UInt8] = []
    for m in members {
      let offset = out.count
      let crc = m.data.withUnsafeBytes { CRC32.checksum($0) }
      let name = Array(m.name.utf8)
      out += [0x50, 0x4B, 3, 4] + le16(20) + le16(0) + le16(m.method) + le16(0) + le16(0) + le32(Int(crc))
      out += le32(m.data.count) + le32(m.uncompressed) + le16(name.count) + le16(0) + name + m.data
      central += [0x50, 0x4B, 1, 2] + le16(20) + le16(20) + le16(0) + le16(m.method) + le16(0) + le16(0)
      central += le32(Int(crc)) + le32(m.data.count) + le32(m.uncompressed) + le16(name.count) + le16(0) + le16(0)
      central += le16(0) + le16(0) + le32(0) + le32(offset) + name
    }
    let cdOffset = out.count
    out += central
    let count = declaredCount ?? members.count
    out += [0x50, 0x4B, 5, 6] + le16(0) + le16(0) + le16(min(count, 0xFFFF)) + le16(min(count, 0xFFFF))
    out += le32(central.count) + le32(cdOffset) + le16(0)
    return out
  }

  // MARK: - safetensors and sharded indexes

  @Test("safetensors: a length prefix past the 100,000,000-byte cap, and one past the file end")
  func safetensorsHeaderLength() throws {
    let tooLarge = try Self.write(Self.le64(100_000_001) + Array("{}".utf8), "large.safetensors")
    #expect(Self.error { _ = try SafeTensors.read(path: tooLarge) }?.code == .limitExceeded)
    let pastEnd = try Self.write(Self.le64(99_999_999) + Array("{}".utf8), "past.safetensors")
    let e = Self.error { _ = try SafeTensors.read(path: pastEnd) }
    #expect(
      e != nil && e?.code != .limitExceeded, "a header inside the cap but past the file end: \(String(describing: e))")
  }

  @Test("safetensors: a shape whose byte size overflows, and one larger than the file")
  func safetensorsShapes() throws {
    for shape in ["[4294967296,4294967296,16]", "[1099511627776]"] {
      var header = Array("{\"t\":{\"dtype\":\"F32\",\"shape\":\(shape),\"data_offsets\":[0,4]}}".utf8)
      while header.count % 8 != 0 { header.append(0x20) }
      let path = try Self.write(Self.le64(UInt64(header.count)) + header + [0, 0, 0, 0], "shape.safetensors")
      let e = Self.error { _ = try SafeTensors.read(path: path) }
      #expect(e?.file == path, "\(shape): \(String(describing: e))")
    }
  }

  @Test("sharded index: larger than 256 MiB (a sparse file) is refused before it is read")
  func shardedIndexLength() throws {
    let folder = try TestPaths.scratchFolder("limits-index")
    let index = folder + "/model.safetensors.index.json"
    let fd = open(index, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    #expect(fd >= 0)
    #expect(ftruncate(fd, off_t((256 << 20) + 1)) == 0)
    close(fd)
    let e = Self.error { _ = try SafeTensors.readSharded(path: folder) }
    #expect(e?.code == .limitExceeded, "\(String(describing: e))")
  }

  @Test("JSON nesting: 256 levels parse, 257 are refused (headers, indexes and metadata share the parser)")
  func jsonDepth() throws {
    let ok = String(repeating: "[", count: 256) + String(repeating: "]", count: 256)
    #expect((try? JSONParser.parse(ok)) != nil)
    let deep = String(repeating: "[", count: 257) + String(repeating: "]", count: 257)
    #expect(Self.error { _ = try JSONParser.parse(deep) } != nil)
    // The same through a safetensors header: metadata nested 100,000 deep must not recurse that far.
    var header = Array("{\"__metadata__\":{\"a\":".utf8) + [UInt8](repeating: 0x5B, count: 100_000)
    header += [UInt8](repeating: 0x5D, count: 100_000) + Array("}}".utf8)
    let path = try Self.write(Self.le64(UInt64(header.count)) + header, "deep.safetensors")
    #expect(Self.error { _ = try SafeTensors.read(path: path) }?.file == path)
  }

  // MARK: - .graft

  /// `tiny.graft` with its index replaced and the header checksum recomputed (a forgery that passes the checksum).
  static func forgedGraft(_ transform: (String) -> String) throws -> [UInt8] {
    let file = try FileSystem.readAll(TestPaths.fixture("graft/tiny.graft"))
    let n = file.count
    func u64(_ at: Int) -> Int { (0..<8).reduce(0) { $0 | Int(file[at + $1]) << (8 * $1) } }
    let offset = u64(n - 32)
    let length = u64(n - 24)
    let index = Array(transform(String(decoding: file[offset..<(offset + length)], as: UTF8.self)).utf8)
    let trailerHead = Self.le64(UInt64(offset)) + Self.le64(UInt64(index.count))
    var hash = XXHash64()
    hash.update(Array(file[0..<64]))
    hash.update(index)
    hash.update(trailerHead)
    return Array(file[0..<offset]) + index + trailerHead + Self.le64(hash.finalize()) + Array("GRAFTEND".utf8)
  }

  @Test(".graft: an index length past the 100,000,000-byte cap; a shape of 1025 dimensions")
  func graftCaps() throws {
    var file = try FileSystem.readAll(TestPaths.fixture("graft/tiny.graft"))
    let at = file.count - 24
    for (k, b) in Self.le64(100_000_001).enumerated() { file[at + k] = b }
    let long = try Self.write(file, "long.graft")
    #expect(Self.error { _ = try GraftFile.read(path: long) }?.code == .limitExceeded)

    let rank = try Self.forgedGraft { index in
      let dims = "[" + [String](repeating: "1", count: 1025).joined(separator: ",") + "]"
      let parts = index.split(separator: "\"shape\":[2,2]", maxSplits: 1, omittingEmptySubsequences: false)
      return parts.count == 2 ? parts[0] + "\"shape\":" + dims + parts[1] : index
    }
    let path = try Self.write(rank, "rank.graft")
    let e = Self.error { _ = try GraftFile.read(path: path) }
    #expect(e?.code == .limitExceeded && e?.message.contains("1024") == true, "\(String(describing: e))")
  }

  // MARK: - Pickle

  @Test("pickle: memo entries and created containers are capped (limits lowered to keep the file small)")
  func pickleMemoAndNodes() throws {
    final class Inert: PickleInterpreter {
      func call(_ callable: String, args: [PickleValue], at offset: Int) throws(GraftError) -> PickleValue? { nil }
      func build(_ target: any PickleExternal, state: PickleValue, at offset: Int) throws(GraftError) -> Bool {
        false
      }
      func persistentLoad(_ pid: PickleValue, at offset: Int) throws(GraftError) -> PickleValue { pid }
    }
    func run(_ bytes: [UInt8], _ limits: PickleLimits) throws {
      _ = try bytes.withUnsafeBytes { raw in
        try PickleMachine.run(raw, limits: limits, interpreter: Inert())
      }
    }
    var limits = PickleLimits()
    limits.maxMemo = 8
    // N, MEMOIZE × 9, STOP
    let memo: [UInt8] = [0x80, 0x04, 0x4E] + [UInt8](repeating: 0x94, count: 9) + [0x2E]
    #expect(Self.error { try run(memo, limits) }?.code == .limitExceeded)
    limits = PickleLimits()
    limits.maxNodes = 8
    // MARK, EMPTY_DICT × 9, LIST, STOP
    let nodes: [UInt8] = [0x80, 0x02, 0x28] + [UInt8](repeating: 0x7D, count: 9) + [0x6C, 0x2E]
    #expect(Self.error { try run(nodes, limits) }?.code == .limitExceeded)
    // Default limits: a BINBYTES8 payload declaring 64 MiB + 1 in a 20-byte stream is refused without allocating.
    let payload: [UInt8] = [0x80, 0x05, 0x8E] + Self.le64((64 << 20) + 1) + [0x2E]
    let e = Self.error { try run(payload, PickleLimits()) }
    #expect(e?.code == .limitExceeded || e?.code == .truncated, "\(String(describing: e))")
  }

  @Test("legacy tar: more than 4096 members are refused")
  func tarMembers() throws {
    var tar: [UInt8] = []
    for k in 0..<4097 {
      var header = [UInt8](repeating: 0, count: 512)
      for (i, b) in "m\(k)".utf8.enumerated() { header[i] = b }
      for (i, b) in "00000000000\0".utf8.enumerated() { header[124 + i] = b }
      for (i, b) in "ustar".utf8.enumerated() { header[257 + i] = b }
      header[156] = 0x30
      tar += header
    }
    let path = try Self.write(tar + [UInt8](repeating: 0, count: 1024), "many.tar")
    let e = Self.error { _ = try PyTorchCheckpoint.read(path: path) }
    #expect(e?.code == .limitExceeded, "\(String(describing: e))")
  }

  // MARK: - PyTorch records

  /// A torch.save-style zip whose `data.pkl` is a minimal pickle (`}.`: an empty dict), plus extra members.
  static func torchZip(_ extra: [(name: String, method: Int, data: [UInt8], uncompressed: Int)]) -> [UInt8] {
    zip([("archive/data.pkl", 0, [0x80, 0x02, 0x7D, 0x2E], 4)] + extra)
  }

  @Test("PyTorch: byteorder and version records over 64 bytes are refused before they are read")
  func smallRecords() throws {
    let long = Array("little".utf8) + [UInt8](repeating: 0x20, count: 59)  // 65 bytes
    for record in ["archive/byteorder", "archive/version"] {
      let path = try Self.write(Self.torchZip([(record, 0, long, long.count)]), "record.pth")
      let e = Self.error { _ = try PyTorchCheckpoint.read(path: path) }
      #expect(e?.code == .limitExceeded, "\(String(describing: e))")
      #expect(e?.message.contains("'\(record)' is 65 bytes; the cap is 64") == true, "\(String(describing: e))")
      #expect(e?.byteOffset != nil)
    }
    // 64 bytes is within the cap ("little" padded with spaces is accepted): the read gets past the records and
    // stops only at the empty state dict.
    let ok = try Self.write(Self.torchZip([("archive/byteorder", 0, Array(long.prefix(64)), 64)]), "ok.pth")
    let past = Self.error { _ = try PyTorchCheckpoint.read(path: ok) }
    #expect(past?.message == "the checkpoint contains no tensors", "\(String(describing: past))")
  }

  @Test("PyTorch: a data.pkl declaring 100 MiB + 1 bytes is refused before anything is inflated")
  func pickleSize() throws {
    // A 4-byte DEFLATE stream declared as 100 MiB + 1: only the declared size is looked at.
    let declared = PyTorchCheckpoint.maxPickleBytes + 1
    let path = try Self.write(Self.zip([("archive/data.pkl", 8, [0x63, 0x60, 0x00, 0x00], declared)]), "big.pth")
    let e = Self.error { _ = try PyTorchCheckpoint.read(path: path) }
    #expect(e?.code == .limitExceeded)
    #expect(e?.message == "data.pkl is \(declared) bytes; the cap is \(PyTorchCheckpoint.maxPickleBytes)")
    #expect(PyTorchCheckpoint.maxPickleBytes == 100 << 20)
  }

  // MARK: - HDF5 attributes

  @Test(
    "HDF5: attribute element and byte caps (lowered) stop a read before the attribute is allocated",
    .enabled(if: HDF5Support.isAvailable))
  func hdf5Attributes() throws {
    // keras2.h5 (written by h5py) holds `layer_names` and `weight_names` as fixed-size string arrays.
    let path = TestPaths.fixture("hdf5/keras2.h5")
    var options = HDF5Checkpoint.ReadOptions()
    #expect(try HDF5Checkpoint.read(path: path, options: options).count > 0)
    options.limits.maxAttributeElements = 1
    let elements = Self.error { _ = try HDF5Checkpoint.read(path: path, options: options) }
    #expect(elements?.code == .limitExceeded)
    #expect(elements?.message.contains("elements; the cap is 1") == true, "\(String(describing: elements))")
    #expect(elements?.file == path)
    options.limits = .init()
    options.limits.maxAttributeBytes = 8
    let bytes = Self.error { _ = try HDF5Checkpoint.read(path: path, options: options) }
    #expect(bytes?.code == .limitExceeded)
    #expect(bytes?.message.contains("the cap is 8 bytes") == true, "\(String(describing: bytes))")
    #expect(HDF5Checkpoint.Limits().maxAttributeElements == 1 << 24)
    #expect(HDF5Checkpoint.Limits().maxAttributeBytes == 1 << 28)
  }

  // MARK: - Zip

  @Test("zip: a member count past the cap, a central directory larger than the file")
  func zipEntries() throws {
    let member = (name: "a", method: 0, data: [UInt8]([1, 2, 3]), uncompressed: 3)
    var limits = ZipArchive.Limits()
    limits.maxEntries = 4
    let five = Self.zip(Array(repeating: member, count: 1).enumerated().map { _ in member }, declaredCount: 5)
    let path = try Self.write(five, "five.zip")
    #expect(Self.error { _ = try ZipArchive(path: path, limits: limits) }?.code == .limitExceeded)
    // 60,000 members declared in a 100-byte file: refused from the directory size, nothing reserved.
    let lying = try Self.write(Self.zip([member], declaredCount: 60_000), "lying.zip")
    #expect(Self.error { _ = try ZipArchive(path: lying) }?.code == .truncated)
  }

  @Test("zip: a DEFLATE member declaring more than 1100:1, and one larger than the inflate cap")
  func zipInflateCaps() throws {
    // A valid deflate stream of 2 zero bytes (fixed Huffman), declared as 1 GiB.
    let deflated: [UInt8] = [0x63, 0x60, 0x00, 0x00]
    let bomb = try Self.write(Self.zip([("x", 8, deflated, 1 << 30)]), "bomb.zip")
    let archive = try ZipArchive(path: bomb)
    let entry = try #require(archive.entries.first)
    // Members inflate lazily: the caps apply on first access, before the output buffer is allocated.
    var one = [UInt8](repeating: 0, count: 1)
    let source = try archive.bytes(of: entry)
    #expect(
      Self.error { try one.withUnsafeMutableBytes { try source.copyBytes(in: 0..<1, into: $0) } }?.code
        == .limitExceeded)
    var limits = ZipArchive.Limits()
    limits.maxInflatedBytes = 1
    let small = try Self.write(Self.zip([("y", 8, deflated, 2)]), "small.zip")
    let capped = try ZipArchive(path: small, limits: limits)
    let member = try #require(capped.entries.first)
    let cappedSource = try capped.bytes(of: member)
    #expect(
      Self.error { try one.withUnsafeMutableBytes { try cappedSource.copyBytes(in: 0..<1, into: $0) } }?.code
        == .limitExceeded)
  }

  // MARK: - NumPy

  static func npy(version: UInt8, header: String, headerLength: Int? = nil, data: [UInt8] = []) -> [UInt8] {
    var out: [UInt8] = [0x93] + Array("NUMPY".utf8) + [version, 0]
    let bytes = Array(header.utf8)
    let length = headerLength ?? bytes.count
    out += version == 1 ? le16(length) : le32(length)
    return out + bytes + data
  }

  @Test(".npy: a header over 1 MiB, 65 dimensions, and a shape larger than the file")
  func numpyCaps() throws {
    let big = try Self.write(Self.npy(version: 2, header: "{}", headerLength: (1 << 20) + 1), "big.npy")
    #expect(Self.error { _ = try NumPyFormat.readNPY(path: big) }?.code == .limitExceeded)
    let dims = "(" + [String](repeating: "1", count: 65).joined(separator: ", ") + ")"
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(dims), }"
    let rank = try Self.write(Self.npy(version: 1, header: header + "\n", data: [0, 0, 0, 0]), "rank.npy")
    #expect(Self.error { _ = try NumPyFormat.readNPY(path: rank) }?.file == rank)
    let huge = "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776,), }\n"
    let short = try Self.write(Self.npy(version: 1, header: huge, data: [0, 0, 0, 0]), "short.npy")
    #expect(Self.error { _ = try NumPyFormat.readNPY(path: short) }?.file == short)
  }
}
