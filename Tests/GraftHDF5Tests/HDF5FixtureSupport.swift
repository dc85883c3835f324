import GraftCore
import TestSupport
import Testing

/// Compares a table with a fixture's `<name>.expected.json` (dtype, shape and little-endian bytes in hex).
func expectMatchesExpected(
  _ table: TensorTable, _ expectedFixture: String, sourceLocation: SourceLocation = #_sourceLocation
)
  throws
{
  let text = String(decoding: try FileSystem.readAll(TestPaths.fixture(expectedFixture)), as: UTF8.self)
  guard let expected = try JSONParser.parse(text).objectValue else {
    Issue.record("\(expectedFixture) is not a JSON object", sourceLocation: sourceLocation)
    return
  }
  #expect(Set(table.names).isSuperset(of: Set(expected.keys)), sourceLocation: sourceLocation)
  for (name, value) in expected {
    guard let tensor = table[name] else {
      Issue.record("missing tensor \(name)", sourceLocation: sourceLocation)
      continue
    }
    #expect(tensor.dtype.rawValue == value["dtype"]?.stringValue, "\(name)", sourceLocation: sourceLocation)
    #expect(
      tensor.shape == (value["shape"]?.arrayValue?.compactMap(\.intValue) ?? [-1]), "\(name)",
      sourceLocation: sourceLocation)
    #expect(hex(try tensor.readAllBytes()) == value["hex"]?.stringValue, "\(name)", sourceLocation: sourceLocation)
  }
}

/// Lower-case hex of bytes.
func hex(_ bytes: [UInt8]) -> String {
  let digits = Array("0123456789abcdef")
  var s = ""
  s.reserveCapacity(bytes.count * 2)
  for b in bytes {
    s.append(digits[Int(b >> 4)])
    s.append(digits[Int(b & 15)])
  }
  return s
}
