import FuzzSupport
import Graft

/// GGUF: the header parser on raw bytes, then the file reader with every tensor decoded (dequantization kernels),
/// the inspection (lines and JSON), and a rewrite of whatever table was read followed by a re-read.
func fuzzGGUF(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  guard size <= FuzzSupport.maxInput else { return 0 }
  _ = try? GGUFFile.parse(bytes: UnsafeRawBufferPointer(start: data, count: size))
  let path = FuzzSupport.write(data, size, name: "input.gguf")
  if let inspection = try? GGUFInspection.inspect(path: path) {
    _ = inspection.lines()
    _ = inspection.json.serialized()
  }
  guard let table = try? GGUF.read(path: path) else { return 0 }
  FuzzSupport.touch(table)
  let copy = FuzzSupport.folder + "/copy.gguf"
  if (try? GGUF.write(table, to: copy)) != nil, let again = try? GGUF.read(path: copy) {
    FuzzSupport.touch(again)
  }
  return 0
}
