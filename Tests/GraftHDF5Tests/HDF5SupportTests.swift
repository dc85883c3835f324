import GraftCore
import GraftHDF5
import TestSupport
import Testing

@Suite("HDF5 trait")
struct HDF5SupportTests {
  @Test("without the HDF5 trait every entry point says HDF5 support was not built")
  func notBuilt() throws {
    guard !HDF5Support.isAvailable else {
      #expect(HDF5Support.libraryVersion != nil, "a build with HDF5 knows its library version")
      return
    }
    #expect(HDF5Support.libraryVersion == nil)
    let error = expectGraftError { _ = try HDF5Checkpoint.read(path: TestPaths.fixture("hdf5/plain.h5")) }
    #expect(error?.code == .unsupported)
    #expect(error?.message.contains("HDF5 support was not built") == true)
  }
}
