import FuzzSupport
import Graft

/// HDF5 through libhdf5 (not instrumented itself): read in every layout, describe.
func fuzzHDF5(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  guard size <= FuzzSupport.maxInput else { return 0 }
  let path = FuzzSupport.write(data, size, name: "input.h5")
  if let table = try? HDF5Checkpoint.read(path: path) { FuzzSupport.touch(table) }
  _ = try? HDF5Checkpoint.describe(path: path)
  return 0
}
