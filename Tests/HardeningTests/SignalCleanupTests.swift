import Foundation
import Glibc
import Graft
import TestSupport
import Testing

/// Ctrl-C (SIGINT), `kill` (SIGTERM) and a closed terminal (SIGHUP) in the middle of a write remove every temporary
/// file and end the process with 128 + the signal number, for every output format (issue 14, item 6).
///
/// Each run converts a 192 MiB checkpoint with the built `graft`, waits until its temporary file exists (so the
/// signal lands while the output is being written) and signals it. Needs the executable (see ``GraftExecutable``).
@Suite("Signals during a write leave no temporary file", .serialized, .enabled(if: GraftExecutable.path != nil))
struct SignalCleanupTests {
  /// A 192 MiB input; zeros, since the content does not matter and they are cheap to make in a debug build.
  static func input(_ dir: String) throws -> String {
    let path = dir + "/in.safetensors"
    guard !FileSystem.exists(path) else { return path }
    var table = TensorTable()
    for k in 0..<3 {
      let bytes = HeapBytes(count: 64 << 20) { $0.initializeMemory(as: UInt8.self, repeating: 0) }
      try table.append("layer\(k).weight", Tensor(dtype: .float32, shape: [4096, 4096], bytes: bytes))
    }
    // The GGUF writer needs an architecture; the others carry it as plain metadata.
    table.metadata["general.architecture"] = "llama"
    try Checkpoint.write(table, to: path)
    return path
  }

  /// Every file below `folder` (temporaries included), relative to it.
  static func files(_ folder: String) -> [String] {
    let found = FileManager.default.enumerator(atPath: folder)?.allObjects as? [String] ?? []
    return found.filter { !FileSystem.isDirectory(folder + "/" + $0) }.sorted()
  }

  @Test(
    "SIGINT, SIGTERM and SIGHUP mid-write: exit 130/143/129 and no file left",
    arguments: ["graft", "safetensors", "pth", "npz", "h5", "gguf", "sharded"])
  func signalMidWrite(format: String) throws {
    if format == "h5" && !HDF5Support.isAvailable { return }
    let dir = try TestPaths.scratchFolder("signals")
    let source = try Self.input(dir)
    for (signal, status) in [(SIGINT, 130), (SIGTERM, 143), (SIGHUP, 129)] {
      let out = dir + "/out-\(format)-\(signal)"
      try FileSystem.makeDirectory(out)
      let destination = format == "sharded" ? out + "/model" : out + "/model." + format
      let extra = format == "sharded" ? ["--shard-size", "48MiB"] : []
      let p = Process()
      p.executableURL = URL(fileURLWithPath: GraftExecutable.path ?? "/nonexistent")
      p.arguments = ["convert", source, destination, "-q"] + extra
      p.standardOutput = FileHandle.nullDevice
      p.standardError = FileHandle.nullDevice
      try p.run()
      // Poll for the temporary file: the signal must arrive while the output is being written.
      let start = FileSystem.monotonicNanoseconds()
      var writing = false
      while p.isRunning && FileSystem.monotonicNanoseconds() - start < 60_000_000_000 {
        if Self.files(out).contains(where: { $0.split(separator: "/").last?.hasPrefix(".graft-tmp-") == true }) {
          writing = true
          break
        }
        usleep(500)
      }
      kill(p.processIdentifier, signal)
      p.waitUntilExit()
      #expect(writing, "\(format): the conversion ended before its temporary file was seen")
      #expect(
        p.terminationReason == .exit && Int(p.terminationStatus) == status,
        "\(format), signal \(signal): status \(p.terminationStatus) (\(p.terminationReason))")
      #expect(Self.files(out).isEmpty, "\(format), signal \(signal): left \(Self.files(out))")
    }
  }
}
