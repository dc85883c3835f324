import FuzzSupport
import Graft

/// Zip: central directory, every member (stored and inflated) with its CRC, then the PyTorch zip reader.
func fuzzZip(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  guard size <= FuzzSupport.maxInput else { return 0 }
  let path = FuzzSupport.write(data, size, name: "input.zip")
  var limits = ZipArchive.Limits()
  limits.maxInflatedBytes = 64 << 20
  if let zip = try? ZipArchive(path: path, limits: limits) {
    for entry in zip.entries.prefix(64) {
      _ = zip.entry(named: entry.name)
      _ = try? zip.readSmallMember(entry, cap: 1 << 16)
      _ = try? zip.verifyChecksum(entry)
      if let source = try? zip.bytes(of: entry), source.byteCount <= 64 << 20 {
        let tensor = Tensor(dtype: .uint8, shape: [source.byteCount], bytes: source)
        var table = TensorTable()
        try? table.append(entry.name, tensor)
        FuzzSupport.touch(table)
      }
    }
  }
  if let archive = try? PyTorchCheckpoint.open(path: path) {
    _ = archive.treeDescription(maxDepth: 4)
    _ = archive.referencedGlobals
    if let table = try? archive.table(select: nil, stripPrefixes: []) { FuzzSupport.touch(table) }
  }
  _ = try? NumPyFormat.readNPZ(path: path).count
  return 0
}
