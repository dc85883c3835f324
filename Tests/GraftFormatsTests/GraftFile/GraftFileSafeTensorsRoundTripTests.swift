import GraftCore
import GraftFormats
import TestSupport
import Testing

@Suite("safetensors → .graft → safetensors")
struct GraftFileSafeTensorsRoundTripTests {
  static let fixtures = [
    "all_dtypes", "empty", "empty_with_format", "metadata_escapes", "metadata_many", "mixed_odd", "no_metadata",
    "tied", "zero_and_scalars",
  ]

  @Test("going through .graft changes no byte of a safetensors file", arguments: fixtures)
  func roundTrip(name: String) throws {
    let original = TestPaths.fixture("safetensors/\(name).safetensors")
    try #require(FileSystem.exists(original))
    let folder = try TestPaths.scratchFolder("st-graft")
    let table = try SafeTensors.read(path: original)
    // The reference: the safetensors writer applied directly.
    try SafeTensors.write(table, to: folder + "/direct.safetensors")
    for compression in [GraftFile.Compression.none, .deflate(level: 6)] {
      var options = GraftFile.WriteOptions()
      options.compression = compression
      try GraftFile.write(table, to: folder + "/via.graft", options: options, inputs: [original])
      let viaGraft = try GraftFile.read(path: folder + "/via.graft")
      #expect(viaGraft.names == table.names)
      #expect(viaGraft.metadata == table.metadata)
      #expect(try viaGraft.contentDigest() == table.contentDigest())
      try SafeTensors.write(viaGraft, to: folder + "/back.safetensors", inputs: [folder + "/via.graft"])
      let back = try FileSystem.readAll(folder + "/back.safetensors")
      #expect(back == (try FileSystem.readAll(folder + "/direct.safetensors")))
      let originalBytes = try FileSystem.readAll(original)
      if try FileSystem.readAll(folder + "/direct.safetensors") == originalBytes {
        #expect(back == originalBytes)
      }
    }
  }
}
