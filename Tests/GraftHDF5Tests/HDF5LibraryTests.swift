import Dispatch
import GraftCore
import Synchronization
import TestSupport
import Testing

@testable import GraftHDF5

@Suite("The libhdf5 wrapper", .enabled(if: HDF5Support.isAvailable, "built without the HDF5 trait"), .serialized)
struct HDF5LibraryTests {
  #if HDF5
    @Test("a child process started while a file is being written does not keep the finished file locked")
    func inheritedDescriptor() throws {
      let path = try TestPaths.scratchFolder("hdf5-inherited-lock") + "/written.h5"
      var child: Int32 = 0
      do {
        let file = try HDF5Library.createFile(path)
        // Another thread starting a child right now: it inherits libhdf5's descriptor (opened without O_CLOEXEC).
        child = try Syscalls.spawn("/bin/sleep", ["sleep", "30"]).pid
        try HDF5Library.closeFile(file)
      }
      defer {
        Syscalls.killHard(child)
        Syscalls.wait(child)
      }
      // Failed with "unable to lock file, errno = 11" while the child lived, when the writer took a file lock.
      _ = try HDF5Library.openFile(path)
    }

    @Test("readRows refuses a buffer smaller than the selection instead of letting H5Dread write past it")
    func readRowsChecksTheBuffer() throws {
      let file = try HDF5Library.openFile(TestPaths.fixture("hdf5/plain.h5"))
      let dataset = try HDF5Library.openObject(file, "/chunked/big")
      let type = try HDF5Library.datasetType(dataset)
      // Rows 2..<5 of a [64, 33] float32 dataset: 3 × 33 × 4 = 396 bytes.
      let exact = UnsafeMutableRawBufferPointer.allocate(byteCount: 396, alignment: 64)
      defer { exact.deallocate() }
      try HDF5Library.readRows(dataset, type: type, dims: [64, 33], rows: 2..<5, into: exact)
      let all = try #require(try HDF5Checkpoint.read(path: TestPaths.fixture("hdf5/plain.h5"))["chunked.big"])
      #expect(Array(exact) == Array(try all.readAllBytes()[(2 * 132)..<(5 * 132)]))

      let short = UnsafeMutableRawBufferPointer(rebasing: exact[0..<395])
      let error = expectGraftError {
        try HDF5Library.readRows(dataset, type: type, dims: [64, 33], rows: 2..<5, into: short)
      }
      #expect(error?.code == .invalidArgument)
      #expect(error?.message == "the read selects 99 elements of 4 bytes, more than the 395-byte buffer holds")

      let scalarDataset = try HDF5Library.openObject(file, "/step")
      let scalarType = try HDF5Library.datasetType(scalarDataset)
      let four = UnsafeMutableRawBufferPointer(rebasing: exact[0..<4])
      let scalarError = expectGraftError {
        try HDF5Library.readRows(scalarDataset, type: scalarType, dims: [], rows: 0..<1, into: four)
      }
      #expect(scalarError?.message == "the read selects 1 elements of 8 bytes, more than the 4-byte buffer holds")

      // Writes check the same way: H5Dwrite would read past the end of a short buffer.
      let folder = try TestPaths.scratchFolder("hdf5-library-write")
      let out = try HDF5Library.createFile(folder + "/rows.h5")
      let f32 = try HDF5Library.makeType(for: .float32)
      let written = try HDF5Library.createDataset(out, "/x", type: f32, dims: [4, 3], chunk: nil)
      let writeError = expectGraftError {
        try HDF5Library.writeRows(
          written, type: f32, dims: [4, 3], rows: 0..<2, from: UnsafeRawBufferPointer(rebasing: exact[0..<20]))
      }
      #expect(writeError?.message == "the write selects 6 elements of 4 bytes, more than the 20-byte buffer holds")
      try HDF5Library.writeRows(
        written, type: f32, dims: [4, 3], rows: 0..<2, from: UnsafeRawBufferPointer(rebasing: exact[0..<24]))
      try HDF5Library.closeFile(out)
    }

    @Test("every libhdf5 call waits for the one lock, whatever the thread")
    func callsAreSerialised() throws {
      #expect(HDF5Support.isLibraryThreadSafe != nil, "H5is_library_threadsafe answers")
      let path = TestPaths.fixture("hdf5/plain.h5")
      let finished = DispatchSemaphore(value: 0)
      HDF5Library.serial.lock()
      DispatchQueue.global().async {
        _ = try? HDF5Checkpoint.read(path: path)
        finished.signal()
      }
      // Held by this thread, the lock keeps the reader out of libhdf5 however long it waits.
      let whileHeld = finished.wait(timeout: .now() + .milliseconds(300))
      HDF5Library.serial.unlock()
      #expect(whileHeld == .timedOut)
      if whileHeld == .timedOut { #expect(finished.wait(timeout: .now() + .seconds(30)) == .success) }
    }

    @Test("lazy tensors read on many threads at once give the bytes of a sequential read")
    func concurrentReads() throws {
      let table = try HDF5Checkpoint.read(path: TestPaths.fixture("hdf5/plain.h5"))
      let names = table.storedEntries.map(\.name)
      let expected = try names.map { try #require(table[$0]).readAllBytes() }
      let again = try HDF5Checkpoint.read(path: TestPaths.fixture("hdf5/plain.h5"))
      let results = Mutex([[UInt8]?](repeating: nil, count: names.count * 8))
      DispatchQueue.concurrentPerform(iterations: names.count * 8) { i in
        let bytes = try? again[names[i % names.count]]?.readAllBytes()
        results.withLock { $0[i] = bytes }
      }
      let got = results.withLock { $0 }
      for i in got.indices { #expect(got[i] == expected[i % names.count], "\(names[i % names.count])") }
    }
  #endif
}
