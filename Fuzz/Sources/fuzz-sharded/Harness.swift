import FuzzSupport
import Glibc
import Graft

/// The shards of `Fixtures/safetensors/sharded`, copied once into the scratch folder (found through
/// `GRAFT_FIXTURES`, default `../Fixtures` relative to the working directory).
let shardFolder: String = {
  let fixtures = getenv("GRAFT_FIXTURES").map { String(cString: $0) } ?? "Fixtures"
  let folder = FuzzSupport.folder + "/sharded"
  mkdir(folder, 0o700)
  for k in 1...5 {
    let name = "model-0000\(k)-of-00005.safetensors"
    guard let file = fopen("\(fixtures)/safetensors/sharded/\(name)", "rb") else { continue }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
      let n = fread(&buffer, 1, buffer.count, file)
      if n <= 0 { break }
      bytes += buffer[0..<n]
    }
    fclose(file)
    _ = bytes.withUnsafeBufferPointer { p in
      FuzzSupport.write(
        p.baseAddress ?? UnsafePointer(bitPattern: 1).unsafelyUnwrapped, p.count, name: "sharded/\(name)")
    }
  }
  return folder
}()

/// Sharded safetensors: the input is the `model.safetensors.index.json`, next to five real shards.
func fuzzSharded(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  guard size <= FuzzSupport.maxInput else { return 0 }
  let folder = shardFolder
  _ = FuzzSupport.write(data, size, name: "sharded/model.safetensors.index.json")
  if let table = try? SafeTensors.readSharded(path: folder) { FuzzSupport.touch(table) }
  return 0
}
