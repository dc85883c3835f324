import GraftCore
import GraftFormats
import TestSupport
import Testing

/// Throughput of `.graft` writing, reading and verifying on a ~512 MB table, against a plain copy.
///
/// Runs only with `GRAFT_NATIVE_BENCH=1`, in release: `GRAFT_NATIVE_BENCH=1 swift test -c release -Xcc
/// -march=x86-64-v3 --filter GraftFileBenchmark`. Prints MB/s; asserts only that the outputs are correct.
@Suite("Native .graft benchmark")
struct GraftFileBenchmarkTests {
  static let enabled = FileSystem.environment("GRAFT_NATIVE_BENCH") == "1"

  static func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = FileSystem.monotonicNanoseconds()
    try body()
    return Double(FileSystem.monotonicNanoseconds() - start) / 1e9
  }

  static func report(_ label: String, bytes: Int, seconds: Double) {
    let rate = Double(bytes) / 1e6 / seconds
    let rateText = String(Int(rate.rounded()))
    let secondsText = String(Int((seconds * 1000).rounded()))
    FileSystem.writeToStandardError("bench \(label): \(bytes / 1_000_000) MB in \(secondsText) ms = \(rateText) MB/s\n")
  }

  @Test("throughput on a 512 MB table", .enabled(if: enabled))
  func throughput() throws {
    let folder = try TestPaths.scratchFolder("bench")
    let total = 512 << 20
    let tensorSize = 8 << 20
    // The source: one raw file, mapped, cut into 64 float32 tensors, as a safetensors reader would give.
    var source = try AtomicOutputFile(destination: folder + "/source.bin")
    var rng = SplitMix64(seed: 1)
    let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: tensorSize, alignment: 64)
    defer { chunk.deallocate() }
    for _ in 0..<(total / tensorSize) {
      let words = chunk.bindMemory(to: UInt64.self)
      for k in 0..<words.count { words[k] = rng.next() & 0x3FFF_FFFF_3FFF_FFFF }
      try source.write(UnsafeRawBufferPointer(chunk))
    }
    try source.commit()
    let region = try MappedRegion(path: folder + "/source.bin")
    var table = TensorTable()
    for k in 0..<(total / tensorSize) {
      let bytes = MappedBytes(region: region, offset: k * tensorSize, count: tensorSize)
      try table.append("layer.\(k).weight", Tensor(dtype: .float32, shape: [tensorSize / 4], bytes: bytes))
    }
    // Warm the page cache so both sides read from memory.
    _ = GraftFileBenchmarkTests.seconds { _ = XXHash64.hash(region.bytes) }

    // Alternate the baseline and the writer and keep the best of three: the machine is shared.
    let path = folder + "/model.graft"
    var copySeconds = Double.infinity
    var writeSeconds = Double.infinity
    var hashSeconds = Double.infinity
    for _ in 0..<3 {
      copySeconds = min(
        copySeconds,
        try Self.seconds {
          var out = try AtomicOutputFile(destination: folder + "/copy.bin")
          var start = 0
          while start < total {
            try out.write(region.bytes(in: start..<min(total, start + tensorSize)))
            start += tensorSize
          }
          try out.commit()
        })
      writeSeconds = min(writeSeconds, try Self.seconds { try GraftFile.write(table, to: path) })
      hashSeconds = min(hashSeconds, Self.seconds { _ = XXHash64.hash(region.bytes) })
    }
    Self.report("copy (write+fsync, the cp baseline)", bytes: total, seconds: copySeconds)
    Self.report("graft write (hash+write+fsync)", bytes: total, seconds: writeSeconds)
    Self.report("XXH64 alone", bytes: total, seconds: hashSeconds)
    FileSystem.writeToStandardError("bench write / copy = \(writeSeconds / copySeconds)\n")
    FileSystem.remove(folder + "/copy.bin")

    var digest = ""
    let readSeconds = try Self.seconds {
      let back = try GraftFile.read(path: path)
      digest = try back.contentDigest()
    }
    Self.report("graft read + hash every byte", bytes: total, seconds: readSeconds)
    #expect(try digest == table.contentDigest())

    var valid = false
    let verifySeconds = try Self.seconds { valid = try GraftFile.verify(path: path).isValid }
    Self.report("graft verify", bytes: total, seconds: verifySeconds)
    #expect(valid)

    // Compression on an eighth of the table (random low mantissa bits: a realistic worst case for weights).
    var small = TensorTable()
    for entry in table.entries.prefix(8) { try small.append(entry.name, entry.tensor) }
    for level in [1, 6] {
      var options = GraftFile.WriteOptions()
      options.compression = .deflate(level: level)
      let cpath = folder + "/c\(level).graft"
      let seconds = try Self.seconds { try GraftFile.write(small, to: cpath, options: options) }
      Self.report("graft write deflate(\(level))", bytes: 64 << 20, seconds: seconds)
      let size = try FileSystem.size(of: cpath)
      FileSystem.writeToStandardError("bench deflate(\(level)) ratio \(Double(size) / Double(64 << 20))\n")
      var d = ""
      let readBack = try Self.seconds { d = try GraftFile.read(path: cpath).contentDigest() }
      Self.report("graft read deflate(\(level))", bytes: 64 << 20, seconds: readBack)
      #expect(try d == small.contentDigest())
      FileSystem.remove(cpath)
    }
    FileSystem.remove(path)
    FileSystem.remove(folder + "/source.bin")
  }
}
