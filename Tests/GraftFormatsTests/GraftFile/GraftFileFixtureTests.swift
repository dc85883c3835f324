import GraftCore
import GraftFormats
import TestSupport
import Testing

/// The committed example files in `Fixtures/graft/`, which pin the byte format.
///
/// `GRAFT_REGENERATE_FIXTURES=1` rewrites them (and their `.expected.json` descriptions) from the tables below;
/// otherwise a fresh write must reproduce each file byte for byte, and reading it must give the description.
@Suite("Native .graft fixtures")
struct GraftFileFixtureTests {
  /// The worked example of `Formats/graft.md` §13.
  static func tiny() throws -> (TensorTable, GraftFile.WriteOptions) {
    var table = TensorTable()
    // float16 1.0, -2.0, 0.5, 65504.
    try table.append(
      "embed", Tensor(dtype: .float16, shape: [2, 2], copying: [0x00, 0x3C, 0x00, 0xC0, 0x00, 0x38, 0xFF, 0x7B]))
    try table.appendAlias("head", of: "embed")
    try table.append("step", Tensor(dtype: .int64, shape: [], copying: [0xE8, 0x03, 0, 0, 0, 0, 0, 0]))
    table.metadata = JSONObject([("format", "pt"), ("config", ["layers": 2, "tied": true])])
    var options = GraftFile.WriteOptions()
    options.appendLineage = LineageRecord(
      operation: "convert", tool: "graft 0.1.0", parameters: ["from": "safetensors"])
    return (table, options)
  }

  /// Deflated, raw-fallback, sub-byte and complex tensors.
  static func compressed() throws -> (TensorTable, GraftFile.WriteOptions) {
    var table = TensorTable()
    try table.append("smooth", Tensor(float32: (0..<4096).map { Float($0 % 64) * 0.5 }, shape: [64, 64]))
    try table.append("noise", GraftFileFixtures.tensor(.uint8, [100], seed: 42))
    try table.append("mx", GraftFileFixtures.tensor(.float4E2M1, [8], seed: 43))
    try table.append("c", GraftFileFixtures.tensor(.complex128, [2], seed: 44))
    try table.appendAlias("smooth.tied", of: "smooth")
    table.metadata = JSONObject([("note", "deflate example")])
    var options = GraftFile.WriteOptions()
    options.compression = .deflate(level: 6)
    return (table, options)
  }

  /// A JSON description of a table: entries with their bytes' XXH64 (and hex when short), metadata, lineage.
  static func describe(_ table: TensorTable) throws -> JSONValue {
    var tensors: [JSONValue] = []
    for e in table.entries {
      var o = JSONObject()
      o["name"] = .string(e.name)
      o["dtype"] = .string(e.tensor.dtype.rawValue)
      o["shape"] = .array(e.tensor.shape.map(JSONValue.integer))
      if let a = e.aliasOf { o["alias_of"] = .string(a) }
      let bytes = try e.tensor.readAllBytes()
      o["xxh64"] = .string(XXHash64.format(XXHash64.hash(bytes)))
      if bytes.count <= 64 {
        o["hex"] = .string(bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined())
      }
      tensors.append(.object(o))
    }
    return [
      "tensors": .array(tensors), "metadata": .object(table.metadata), "lineage": .array(table.lineage.map(\.json)),
      "content_digest": .string(try table.contentDigest()),
    ]
  }

  @Test(
    "committed fixtures are reproduced byte for byte and read back as described", arguments: ["tiny", "compressed"])
  func fixture(name: String) throws {
    let (table, options) = try name == "tiny" ? Self.tiny() : Self.compressed()
    let path = TestPaths.fixture("graft/\(name).graft")
    let expectedPath = TestPaths.fixture("graft/\(name).expected.json")
    if FileSystem.environment("GRAFT_REGENERATE_FIXTURES") == "1" {
      try FileSystem.makeDirectory(TestPaths.fixture("graft"))
      try GraftFile.write(table, to: path, options: options)
      let text = try Self.describe(GraftFile.read(path: path)).serialized(JSONFormatting(indent: 2)) + "\n"
      try FileSystem.writeAll(Array(text.utf8), to: expectedPath)
    }
    let fresh = try TestPaths.scratchFolder("fixture") + "/\(name).graft"
    try GraftFile.write(table, to: fresh, options: options)
    #expect(try FileSystem.readAll(fresh) == FileSystem.readAll(path), "the format drifted from the committed fixture")

    let back = try GraftFile.read(path: path)
    let expected = try FileSystem.readAll(expectedPath).withUnsafeBytes { try JSONParser.parse($0) }
    #expect(try Self.describe(back) == expected)
    #expect(try GraftFile.verify(path: path).isValid)
    #expect(try back.lineage.last?.output == nil || back.lineage.last?.output == back.contentDigest())
  }
}
