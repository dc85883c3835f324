import FuzzSupport
import Graft

/// The JSON parser every header and index goes through, plus a serialise / re-parse round trip that must agree.
func fuzzJSON(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  guard size <= FuzzSupport.maxInput else { return 0 }
  let bytes = UnsafeRawBufferPointer(start: data, count: size)
  var options = JSONParser.Options()
  options.duplicateKeys = .keepLast
  guard let value = try? JSONParser.parse(bytes, options: options) else { return 0 }
  let text = value.serialized()
  guard let again = try? JSONParser.parse(text, options: options) else {
    fatalError("serialised JSON does not parse again: \(text)")
  }
  precondition(again.serialized() == text, "JSON round trip is not stable")
  return 0
}
