import Glibc
import Graft
import TestSupport
import Testing

/// Checkpoints past 32 bits, built as sparse files so they cost no disk: a 5 GiB tensor (more than 2³² elements),
/// a second tensor whose data starts past 4 GiB, and streaming conversions of them to `.graft`, zip64 `.pth` and
/// `.npz` (those outputs are real 5 GiB files on disk, deleted after each check).
///
/// Gated behind `GRAFT_LARGE_TESTS=1` (CI skips them). `GRAFT_LARGE_DIR` picks the folder (default: the scratch
/// folder under `TMPDIR`); the conversions are skipped when it has less than 12 GiB free.
@Suite(
  "Files and tensors over 4 GiB (GRAFT_LARGE_TESTS=1)", .serialized,
  .enabled(if: FileSystem.environment("GRAFT_LARGE_TESTS") == "1"))
struct HardeningLargeFileTests {
  /// The big tensor: 5 GiB + 16 bytes of U8, zero except its last 16 bytes.
  static let bigCount = (5 << 30) + 16
  /// The last 16 bytes of the big tensor.
  static let bigTail: [UInt8] = (0..<16).map { UInt8(0xA0 + $0) }
  /// The small F32 tensor stored after the big one (its data offset is past 4 GiB).
  static let tailValues: [Float] = [1.5, -2, 3.25, 4e9]

  /// Writes the sparse safetensors file: header, a hole, then the known bytes at the far end.
  static func makeSparseSafeTensors(at path: String) throws {
    let header =
      "{\"big\":{\"dtype\":\"U8\",\"shape\":[\(bigCount)],\"data_offsets\":[0,\(bigCount)]},"
      + "\"tail\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[\(bigCount),\(bigCount + 16)]}}"
    var headerBytes = Array(header.utf8)
    while headerBytes.count % 8 != 0 { headerBytes.append(0x20) }
    var prefix = withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { Array($0) }
    prefix += headerBytes
    let dataStart = prefix.count
    var far = bigTail
    for v in tailValues { far += withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    #expect(fd >= 0)
    defer { close(fd) }
    #expect(ftruncate(fd, off_t(dataStart + bigCount + 16)) == 0)
    #expect(prefix.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) } == prefix.count)
    #expect(far.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(dataStart + bigCount - 16)) } == 32)
  }

  /// Checks the far end of a table read from any format: the big tensor's size and last bytes, the tail's values.
  static func checkFarEnd(_ table: TensorTable, _ label: String) throws {
    let big = try #require(table["big"], "\(label): no 'big' tensor")
    #expect(big.byteCount == bigCount, "\(label)")
    #expect(big.elementCount == bigCount && big.elementCount > Int(UInt32.max), "\(label)")
    var last = [UInt8](repeating: 0, count: 16)
    try last.withUnsafeMutableBytes { try big.bytes.copyBytes(in: (bigCount - 16)..<bigCount, into: $0) }
    #expect(last == bigTail, "\(label): last bytes of the 5 GiB tensor")
    var middle = [UInt8](repeating: 1, count: 16)
    try middle.withUnsafeMutableBytes { try big.bytes.copyBytes(in: (1 << 32)..<((1 << 32) + 16), into: $0) }
    #expect(middle == [UInt8](repeating: 0, count: 16), "\(label): bytes at 4 GiB")
    let tail = try #require(table["tail"], "\(label): no 'tail' tensor")
    #expect(try floatValues(tail) == tailValues, "\(label)")
  }

  static func freeBytes(_ folder: String) -> Int {
    var s = statvfs()
    guard statvfs(folder, &s) == 0 else { return 0 }
    return Int(s.f_bavail) * Int(s.f_frsize)
  }

  static func folder() throws -> String {
    if let dir = FileSystem.environment("GRAFT_LARGE_DIR") {
      try FileSystem.makeDirectory(dir)
      return dir
    }
    return try TestPaths.scratchFolder("large")
  }

  @Test("a sparse 5 GiB safetensors: read, inspect, verify, offsets past 4 GiB, far-end values")
  func readSparseSafeTensors() throws {
    let dir = try Self.folder()
    let src = dir + "/sparse.safetensors"
    try Self.makeSparseSafeTensors(at: src)
    defer { FileSystem.remove(src) }
    let table = try SafeTensors.read(path: src)
    try Self.checkFarEnd(table, "safetensors")
    let tail = try #require(table["tail"])
    #expect((Inspection.fileOffset(of: tail) ?? 0) > 1 << 32, "the tail's data offset is past 4 GiB")
    let inspection = try Inspection.inspect(path: src)
    #expect(inspection.table?.storedByteCount == Self.bigCount + 16)
    let report = try VerificationReport.verify(path: src)
    #expect(report.isValid, "\(report.problems)")
    #expect(report.bytesChecked == Self.bigCount + 16)
  }

  @Test(
    "streaming conversions of a 5 GiB tensor: .graft (verified), zip64 .pth, .npz; far-end values survive",
    arguments: ["graft", "pth", "npz"])
  func convertLarge(format: String) throws {
    let dir = try Self.folder()
    guard Self.freeBytes(dir) > 12 << 30 else {
      Issue.record("less than 12 GiB free in \(dir); not converting")
      return
    }
    let src = dir + "/sparse-\(format).safetensors"
    try Self.makeSparseSafeTensors(at: src)
    defer { FileSystem.remove(src) }
    let out = dir + "/large." + format
    defer { FileSystem.remove(out) }
    let report = try Conversion.run(input: src, output: out)
    #expect(report.tensorsOut == 2)
    #expect(try FileSystem.size(of: out) > Self.bigCount)
    switch format {
    case "graft":
      let native = try GraftFile.verify(path: out)
      #expect(native.isValid, "\(native.problems)")
      #expect(native.bytesChecked >= Self.bigCount)
      try Self.checkFarEnd(try GraftFile.read(path: out), format)
    case "pth":
      let zip = try ZipArchive(path: out)
      let member = try #require(zip.entries.first { $0.uncompressedSize == Self.bigCount })
      #expect(member.dataOffset + member.uncompressedSize <= zip.region.count)
      try zip.verifyChecksum(member)
      #expect(Self.containsZip64EndRecord(zip.region), "a 5 GiB member needs zip64 records")
      try Self.checkFarEnd(try PyTorchCheckpoint.read(path: out), format)
    default:
      try Self.checkFarEnd(try NumPyFormat.readNPZ(path: out), format)
    }
    let verification = try VerificationReport.verify(path: out)
    #expect(verification.isValid, "\(verification.problems)")
  }

  /// Whether the last 64 KiB of a zip hold a zip64 end-of-central-directory record (`PK\x06\x06`).
  static func containsZip64EndRecord(_ region: MappedRegion) -> Bool {
    let start = max(0, region.count - 65_536)
    let tail = Array(region.bytes(in: start..<region.count))
    guard tail.count >= 4 else { return false }
    for i in 0..<(tail.count - 3) where tail[i] == 0x50 && tail[i + 1] == 0x4B && tail[i + 2] == 6 && tail[i + 3] == 6 {
      return true
    }
    return false
  }
}
