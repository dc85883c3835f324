import GraftCore
import GraftHDF5
import TestSupport
import Testing

@Suite("Refusing bad HDF5 input", .enabled(if: HDF5Support.isAvailable, "built without the HDF5 trait"))
struct HDF5BadInputTests {
  @Test("external links are refused, naming the link", arguments: ["bad-external-link.h5", "bad-soft-link.h5"])
  func links(fixture: String) {
    let error = expectGraftError { _ = try HDF5Checkpoint.read(path: TestPaths.fixture("hdf5/" + fixture)) }
    #expect(error?.code == .unsupported)
    #expect(error?.message.contains("link") == true)
    #expect(error?.file?.hasSuffix(fixture) == true)
  }

  @Test("external datasets are refused")
  func externalDataset() {
    let error = expectGraftError {
      _ = try HDF5Checkpoint.read(path: TestPaths.fixture("hdf5/bad-external-dataset.h5"))
    }
    #expect(error?.code == .unsupported)
    #expect(error?.tensor == "ext")
  }

  @Test("a shape bomb (5 GiB declared, nothing stored) is refused")
  func bomb() {
    let error = expectGraftError { _ = try HDF5Checkpoint.read(path: TestPaths.fixture("hdf5/bad-bomb.h5")) }
    #expect(error?.code == .limitExceeded)
    #expect(error?.tensor == "bomb")
  }

  @Test("an HDF5 file without tensors says what it found")
  func notACheckpoint() {
    let error = expectGraftError { _ = try HDF5Checkpoint.read(path: TestPaths.fixture("hdf5/bad-not-checkpoint.h5")) }
    #expect(error?.code == .unrecognizedFormat)
    #expect(error?.message.contains("/meta") == true)
    #expect(error?.message.contains("/meta/names (string)") == true)
  }

  @Test("a truncated file gives libhdf5's reason on one line")
  func truncated() throws {
    let folder = try TestPaths.scratchFolder("hdf5-truncated")
    let bytes = try FileSystem.readAll(TestPaths.fixture("hdf5/plain.h5"))
    let path = folder + "/cut.h5"
    try FileSystem.writeAll(Array(bytes.prefix(bytes.count / 2)), to: path)
    let error = expectGraftError { _ = try HDF5Checkpoint.read(path: path) }
    #expect(error?.code == .truncated)
    #expect(error?.description.contains("\n") == false)
    #expect(error?.description.contains("truncated") == true)
  }

  @Test("a file that is not HDF5 is unrecognized")
  func notHDF5() throws {
    let folder = try TestPaths.scratchFolder("hdf5-garbage")
    let path = folder + "/garbage.h5"
    try FileSystem.writeAll(Array(repeating: 0x41, count: 4096), to: path)
    let error = expectGraftError { _ = try HDF5Checkpoint.read(path: path) }
    #expect(error?.code == .unrecognizedFormat)
    #expect(error?.file == path)
  }

  @Test("a missing file is an io error")
  func missing() {
    let error = expectGraftError { _ = try HDF5Checkpoint.read(path: "/nonexistent/x.h5") }
    #expect(error?.code == .io)
  }
}

/// The isolation's parent side, with `/bin/sh` standing in for `graft hdf5-guard` (the CLI tests run the real child
/// on libhdf5's crash inputs).
@Suite("Reading HDF5 behind a guard process", .enabled(if: HDF5Support.isAvailable, "built without the HDF5 trait"))
struct HDF5GuardTests {
  static func policy(_ script: String, seconds: Double = 10) -> HDF5Checkpoint.Isolation {
    // sh -c SCRIPT NAME PATH LAYOUT BYTES: the guard's arguments land in $1…$3.
    HDF5Checkpoint.Isolation(executable: "/bin/sh", arguments: ["-c", script, "guard"], seconds: seconds)
  }

  static let file = TestPaths.fixture("hdf5/keras2.h5")

  @Test("the child receives the path, the layout and the memory cap; a clean exit lets the read go on")
  func clean() throws {
    try HDF5Checkpoint.readInChild(
      path: Self.file, layout: .keras2,
      policy: Self.policy(#"[ "$1" = "\#(Self.file)" ] && [ "$2" = keras2 ] && [ "$3" = 4294967296 ]"#))
  }

  @Test("a crash in the child becomes an error naming the file and the signal")
  func crash() {
    let error = expectGraftError {
      try HDF5Checkpoint.readInChild(path: Self.file, layout: .auto, policy: Self.policy("kill -SEGV $$"))
    }
    #expect(error?.code == .invalidHeader)
    #expect(error?.file == Self.file)
    #expect(error?.message.contains("crashed (SIGSEGV)") == true)
  }

  @Test("a child past its deadline is killed and reported")
  func hang() {
    let error = expectGraftError {
      try HDF5Checkpoint.readInChild(
        path: Self.file, layout: .auto, policy: Self.policy("exec sleep 30", seconds: 0.3))
    }
    #expect(error?.message.contains("did not finish") == true)
  }

  @Test("the child's own error comes back with its code, tensor and byte offset")
  func childError() {
    let error = expectGraftError {
      try HDF5Checkpoint.readInChild(
        path: Self.file, layout: .auto, policy: Self.policy(#"printf 'limitExceeded\tw\t12\ttoo big\n'; exit 1"#))
    }
    #expect(error?.code == .limitExceeded)
    #expect(error?.tensor == "w")
    #expect(error?.byteOffset == 12)
    #expect(error?.message == "too big")
    #expect(error?.file == Self.file)
  }

  @Test("probeCommand reads a good file cleanly and encodes a bad one's error on one line")
  func probe() {
    #expect(HDF5Checkpoint.probeCommand(path: Self.file, layout: .auto) == (0, ""))
    let (status, line) = HDF5Checkpoint.probeCommand(path: TestPaths.fixture("hdf5/bad-bomb.h5"), layout: .auto)
    #expect(status == 1)
    #expect(line.hasPrefix("limitExceeded\tbomb\t\t"))
  }
}
