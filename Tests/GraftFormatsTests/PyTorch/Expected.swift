import GraftCore
import TestSupport
import Testing

/// The tensors torch.load returned for a fixture, exported by `scripts/fixtures/pytorch.py` as raw bytes + JSON.
struct ExpectedTensors {
  struct Item {
    var name: String
    var dtype: String
    var shape: [Int]
    var bytes: [UInt8]
  }

  var items: [Item]

  /// Loads `<stem>.expected.json` / `.expected.bin` under `Fixtures/`.
  init(_ stem: String) throws {
    let json = try JSONParser.parse(
      String(decoding: FileSystem.readAll(TestPaths.fixture(stem + ".expected.json")), as: UTF8.self))
    let blob = try FileSystem.readAll(TestPaths.fixture(stem + ".expected.bin"))
    items = try (json.arrayValue ?? []).map { v in
      let offset = try #require(v["offset"]?.intValue)
      let length = try #require(v["length"]?.intValue)
      return Item(
        name: try #require(v["name"]?.stringValue), dtype: try #require(v["dtype"]?.stringValue),
        shape: (v["shape"]?.arrayValue ?? []).compactMap(\.intValue), bytes: Array(blob[offset..<(offset + length)]))
    }
  }

  /// Checks that `table` has exactly these tensors (after renaming), with identical dtype, shape and bytes.
  func check(
    _ table: TensorTable, rename: (String) -> String = { $0 }, sourceLocation: SourceLocation = #_sourceLocation
  ) throws {
    #expect(table.count == items.count, "tensor count", sourceLocation: sourceLocation)
    for item in items {
      let name = rename(item.name)
      guard let t = table[name] else {
        Issue.record("missing tensor \(name)", sourceLocation: sourceLocation)
        continue
      }
      #expect(t.dtype.rawValue == item.dtype, "dtype of \(name)", sourceLocation: sourceLocation)
      #expect(t.shape == item.shape, "shape of \(name)", sourceLocation: sourceLocation)
      let got = try t.readAllBytes()
      #expect(got == item.bytes, "bytes of \(name)", sourceLocation: sourceLocation)
    }
  }
}

/// Copies a fixture into a scratch folder after applying `edit` to its bytes.
func editedFixture(_ relative: String, _ edit: (inout [UInt8]) -> Void) throws -> String {
  var bytes = try FileSystem.readAll(TestPaths.fixture(relative))
  edit(&bytes)
  let folder = try TestPaths.scratchFolder("pytorch")
  let path = folder + "/" + (relative.split(separator: "/").last.map(String.init) ?? "x")
  try FileSystem.writeAll(bytes, to: path)
  return path
}

/// Replaces every occurrence of `old` by `new` (same length) in `bytes`.
func replaceAll(_ bytes: inout [UInt8], _ old: String, _ new: String) {
  let o = Array(old.utf8)
  let n = Array(new.utf8)
  precondition(o.count == n.count)
  var i = 0
  while i + o.count <= bytes.count {
    if Array(bytes[i..<(i + o.count)]) == o {
      bytes.replaceSubrange(i..<(i + o.count), with: n)
      i += o.count
    } else {
      i += 1
    }
  }
}

/// The error a throwing call produced, if it was a GraftError.
func graftError(_ body: () throws -> Void) -> GraftError? {
  do {
    try body()
    return nil
  } catch let e as GraftError {
    return e
  } catch {
    return nil
  }
}
