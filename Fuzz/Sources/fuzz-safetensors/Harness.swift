import FuzzSupport
import Graft

/// safetensors: the header parser on raw bytes, then the file reader plus every tensor's bytes.
func fuzzSafeTensors(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  guard size <= FuzzSupport.maxInput else { return 0 }
  _ = try? SafeTensors.parseHeader(UnsafeRawBufferPointer(start: data, count: size), file: nil, options: .init())
  let path = FuzzSupport.write(data, size, name: "input.safetensors")
  if let table = try? SafeTensors.read(path: path) { FuzzSupport.touch(table) }
  var lenient = SafeTensors.ReadOptions()
  lenient.duplicateKeys = .keepLast
  if let table = try? SafeTensors.read(path: path, options: lenient) { FuzzSupport.touch(table) }
  return 0
}
