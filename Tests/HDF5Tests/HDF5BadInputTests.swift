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
