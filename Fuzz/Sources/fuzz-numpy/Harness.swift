import FuzzSupport
import Graft

/// NumPy: `.npy` and `.npz` readers on the same bytes (the one that does not match fails fast).
func fuzzNumPy(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  guard size <= FuzzSupport.maxInput else { return 0 }
  let path = FuzzSupport.write(data, size, name: "input.npy")
  if let tensor = try? NumPyFormat.readNPY(path: path) {
    var table = TensorTable()
    try? table.append("x", tensor)
    FuzzSupport.touch(table)
  }
  if let table = try? NumPyFormat.readNPZ(path: path) { FuzzSupport.touch(table) }
  return 0
}
