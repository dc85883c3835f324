import Foundation
import Glibc
import Graft
import TestSupport
import Testing

/// The CI-sized version of `scripts/hardening/kill_test.py`.
///
/// `graft convert` runs (a plain one and a surgery pass with `--rename` and `--dtype`) are killed with SIGKILL at
/// random moments. The destination must always be one of the two complete outputs, and at most one temporary file
/// may be left behind. Needs the `graft` executable next to the test binary (CI builds it) or at `GRAFT_BIN`;
/// skipped otherwise.
@Suite("kill -9 during conversions never leaves a partial destination", .serialized)
struct HardeningKillTests {
  static let graft = GraftExecutable.path

  static func start(_ arguments: [String]) throws -> Process {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: graft ?? "/nonexistent")
    p.arguments = arguments
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    try p.run()
    return p
  }

  static func temporaries(_ folder: String) throws -> [String] {
    try FileSystem.contents(of: folder).filter { $0.hasPrefix(AtomicOutputFile.temporaryPrefix) }
  }

  static func digest(_ path: String) throws -> UInt64 {
    var h = XXHash64()
    h.update(try FileSystem.readAll(path))
    return h.finalize()
  }

  @Test("20 random SIGKILLs of convert (.graft and .safetensors outputs)", .enabled(if: graft != nil))
  func randomKills() throws {
    let dir = try TestPaths.scratchFolder("kill")
    let src = dir + "/in.safetensors"
    var rng = SplitMix64(seed: 9)
    var table = TensorTable()
    for k in 0..<4 { try table.append("layer\(k).weight", Tensor(float32: rng.floats(1 << 20), shape: [1024, 1024])) }
    try Checkpoint.write(table, to: src)
    let variants = [["-q"], ["-q", "--rename", "s/^layer/block/", "--dtype", "BF16"]]
    var kills = 0
    var inWritePhase = 0
    for format in ["graft", "safetensors"] {
      let out = dir + "/out"
      try FileSystem.makeDirectory(out)
      let dest = out + "/model." + format
      var complete: [UInt64] = []
      var seconds: [Double] = []
      for v in variants {
        let t0 = FileSystem.monotonicNanoseconds()
        let p = try Self.start(["convert", src, dest] + v)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        seconds.append(Double(FileSystem.monotonicNanoseconds() - t0) / 1e9)
        complete.append(try Self.digest(dest))
      }
      #expect(complete[0] != complete[1])
      for k in 0..<10 {
        let v = k % 2
        let before = Set(try Self.temporaries(out))
        let p = try Self.start(["convert", src, dest] + variants[v])
        usleep(UInt32(Double.random(in: 0...(seconds[v] * 1.1), using: &rng) * 1e6))
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        kills += 1
        let after = try Self.temporaries(out)
        if !Set(after).subtracting(before).isEmpty { inWritePhase += 1 }
        #expect(after.count <= 1, "kill \(k): temporary files \(after)")
        #expect(FileSystem.exists(dest), "kill \(k): the destination disappeared")
        #expect(complete.contains(try Self.digest(dest)), "kill \(k): the destination is not a complete output")
      }
      let p = try Self.start(["convert", src, dest, "-q"])
      p.waitUntilExit()
      #expect(p.terminationStatus == 0)
      #expect(try Self.temporaries(out).isEmpty, "a clean run removes the leftovers of killed runs")
      #expect(try Self.digest(dest) == complete[0])
      for name in try FileSystem.contents(of: out) { FileSystem.remove(out + "/" + name) }
    }
    #expect(kills == 20)
    // Not asserted (timing on a loaded CI machine varies), only reported.
    print("kill smoke: \(kills) kills, \(inWritePhase) during the write phase")
  }

  @Test("a stale temporary file of a dead process is removed by the next write; a live one is kept")
  func staleTemporaries() throws {
    let dir = try TestPaths.scratchFolder("stale")
    let dest = dir + "/model.graft"
    // PID 2^22 + 1 is above Linux's pid_max limit, so no such process can exist.
    let stale = AtomicOutputFile.temporaryPrefix + "4194305-deadbeef-model.graft"
    let live = AtomicOutputFile.temporaryPrefix + "1-cafe-model.graft"  // PID 1 always exists.
    let other = AtomicOutputFile.temporaryPrefix + "4194305-beef-other.graft"  // Another destination's file.
    for name in [stale, live, other] { try FileSystem.writeAll([1], to: dir + "/" + name) }
    var table = TensorTable()
    try table.append("x", Tensor(float32: [1, 2, 3], shape: [3]))
    try Checkpoint.write(table, to: dest)
    #expect(try FileSystem.contents(of: dir).sorted() == [live, other, "model.graft"].sorted())
  }
}
