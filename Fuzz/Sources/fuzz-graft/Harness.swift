import FuzzSupport
import Graft

/// `.graft`: info, read (with and without checksum verification), every tensor's bytes, verify.
func fuzzGraft(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  guard size <= FuzzSupport.maxInput else { return 0 }
  let path = FuzzSupport.write(data, size, name: "input.graft")
  _ = try? GraftFile.info(path: path)
  if let table = try? GraftFile.read(path: path) { FuzzSupport.touch(table) }
  var options = GraftFile.ReadOptions()
  options.verifyTensorChecksumsOnRead = true
  if let table = try? GraftFile.read(path: path, options: options) { FuzzSupport.touch(table) }
  _ = try? GraftFile.verify(path: path)
  return 0
}
