import FuzzSupport
import Graft

/// A do-nothing interpreter: every call stays symbolic, every persistent id is returned as is.
final class InertInterpreter: PickleInterpreter {
  func call(_ callable: String, args: [PickleValue], at offset: Int) throws(GraftError) -> PickleValue? { nil }
  func build(_ target: any PickleExternal, state: PickleValue, at offset: Int) throws(GraftError) -> Bool { false }
  func persistentLoad(_ pid: PickleValue, at offset: Int) throws(GraftError) -> PickleValue { pid }
}

/// Pickle VM: the raw machine with an inert interpreter, then the legacy PyTorch readers (raw stream / tar) that
/// run it with the torch interpreter.
func fuzzPickle(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  guard size <= FuzzSupport.maxInput else { return 0 }
  let bytes = UnsafeRawBufferPointer(start: data, count: size)
  var limits = PickleLimits()
  limits.maxNodes = 1 << 16
  limits.maxStack = 1 << 16
  limits.maxMemo = 1 << 16
  if let result = try? PickleMachine.run(bytes, limits: limits, interpreter: InertInterpreter()) {
    _ = result.graph.globals.count
  }
  let path = FuzzSupport.write(data, size, name: "input.pth")
  if let archive = try? PyTorchCheckpoint.open(path: path) {
    _ = archive.treeDescription(maxDepth: 4)
    if let table = try? archive.table(select: nil, stripPrefixes: []) { FuzzSupport.touch(table) }
  }
  return 0
}
