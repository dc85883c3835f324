import GraftCore
import GraftFormats
import TestSupport
import Testing

/// Dequantization and quantization against what gguf-py and llama.cpp's reference C code produced
/// (`scripts/fixtures/gguf.py`).
@Suite("GGUF numerics match gguf-py and llama.cpp")
struct GGUFNumericsTests {
  static let dequantTypes = [
    "F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "TQ1_0", "TQ2_0", "MXFP4", "Q2_K", "Q3_K", "Q4_K",
    "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS", "NVFP4",
  ]

  @Test("dequantization is bit-identical to gguf.quants.dequantize", arguments: dequantTypes)
  func dequantizeMatchesGGUFPy(_ name: String) throws {
    let file = try GGUFFile.open(path: TestPaths.fixture("gguf/types/\(name).gguf"))
    let info = try #require(file.tensorInfo(named: "t"))
    #expect(info.type.name == name)
    #expect(info.shape == [4, 256])
    #expect(info.dimensions == [256, 4])
    let expected = try readFloats(TestPaths.fixture("gguf/types/\(name).f32"))
    // Through the tensor table (lazy producer) and through the kernel directly.
    let table = try GGUF.read(path: file.path)
    let tensor = try #require(table["t"])
    let decoded = try floatValues(try tensor.dequantized(to: .float32))
    let diff = bitDifferences(decoded, expected)
    #expect(diff.count == 0, "\(name): \(diff.count) values differ, first at \(diff.first)")
    #expect(tensor.isQuantized == (info.type.plainDType == nil))
    if info.type.isQuantized {
      let direct = try dequantize(try storedBytes(file, "t"), as: info.type)
      #expect(bitDifferences(direct, expected).count == 0)
    }
  }

  @Test("a byte range of a quantized tensor decodes the same as the whole tensor")
  func partialRanges() throws {
    let table = try GGUF.read(path: TestPaths.fixture("gguf/types/Q4_K.gguf"))
    let tensor = try #require(table["t"])
    let whole = try tensor.readAllBytes()
    for range in [0..<4, 3..<1030, 1021..<1029, 4090..<4096, 1024..<3072] {
      var part = [UInt8](repeating: 0, count: range.count)
      try part.withUnsafeMutableBytes { try tensor.bytes.copyBytes(in: range, into: $0) }
      #expect(part == Array(whole[range]), "\(range)")
    }
  }

  static let gguFPyQuantizers = ["F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"]

  @Test("quantization is bit-identical to gguf.quants.quantize", arguments: gguFPyQuantizers)
  func quantizeMatchesGGUFPy(_ name: String) throws {
    let type = try #require(GGMLType(name: name))
    let input = try readFloats(TestPaths.fixture("gguf/types/input.f32"))
    let file = try GGUFFile.open(path: TestPaths.fixture("gguf/types/\(name).gguf"))
    let expected = try storedBytes(file, "t")
    let ours = try quantize(input, as: type)
    let differing = zip(ours, expected).enumerated().filter { $0.element.0 != $0.element.1 }.map(\.offset)
    #expect(ours.count == expected.count)
    #expect(differing.isEmpty, "\(name): \(differing.count) bytes differ, first at \(differing.prefix(5))")
  }

  struct Reference: Decodable {
    var rmse: Double
  }

  @Test("K-quants follow llama.cpp's reference quantizer", arguments: ["Q4_K", "Q5_K", "Q6_K"])
  func kQuantsMatchReference(_ name: String) throws {
    let type = try #require(GGMLType(name: name))
    let input = try readFloats(TestPaths.fixture("gguf/kquants/input.f32"))
    let reference = try FileSystem.readAll(TestPaths.fixture("gguf/kquants/\(name).ref"))
    let manifest = try readJSON(TestPaths.fixture("gguf/kquants/manifest.json"))
    let referenceRMSE = try #require(manifest["types"]?[name]?["baseline"]?["rmse"]?.doubleValue)
    let ours = try quantize(input, as: type)
    // RMSE over the 16 random rows; the edge blocks after them (scripts/fixtures/gguf.py edge_blocks: zero, −0,
    // near-denormal, huge, tie and outlier groups) are compared block by block only, since the huge one decodes to
    // inf on both sides.
    let random = 16 * 256
    let ourRMSE = rmse(Array(try dequantize(ours, as: type).prefix(random)), Array(input.prefix(random)))
    let theirRMSE = rmse(Array(try dequantize(reference, as: type).prefix(random)), Array(input.prefix(random)))
    // The reference RMSE was computed by gguf-py in float64; ours in Double from the same floats.
    #expect(abs(theirRMSE - referenceRMSE) <= 1e-12 * referenceRMSE)
    // Same algorithm, same float operation order, no FMA on either side: every block is expected to match, which
    // makes the RMSE equal too. The RMSE bound is the issue's acceptance criterion.
    let blocks = ours.count / type.blockBytes
    let differing = (0..<blocks).filter { b in
      ours[(b * type.blockBytes)..<((b + 1) * type.blockBytes)]
        != reference[(b * type.blockBytes)..<((b + 1) * type.blockBytes)]
    }
    #expect(differing.isEmpty, "\(name): blocks \(differing) differ from quantize_row_\(name.lowercased())_ref")
    #expect(ourRMSE <= theirRMSE * (1 + 1e-9), "\(name): RMSE \(ourRMSE) vs reference \(theirRMSE)")
  }

  @Test("non-finite values are refused for block types and kept for F16/BF16")
  func nonFinite() throws {
    var values = [Float](repeating: 0.5, count: 64)
    values[40] = .infinity
    var out = [UInt8](repeating: 0, count: 68)
    let bad = try values.withUnsafeBufferPointer { src in
      try out.withUnsafeMutableBytes { dst -> Int? in
        guard let from = src.baseAddress, let to = dst.baseAddress else { return nil }
        return try GGUFQuantize.encode(.q8_0, values: from, blockCount: 2, into: to)
      }
    }
    #expect(bad == 40)
    #expect(try quantize([.infinity, -70000], as: .f16) == [0x00, 0x7C, 0x00, 0xFC])
    // ggml makes a signalling NaN quiet for BF16; numpy keeps a NaN's (truncated) payload for F16.
    #expect(try quantize([Float(bitPattern: 0x7F80_0001)], as: .bf16) == [0xC0, 0x7F])
    #expect(try quantize([Float(bitPattern: 0x7F80_2000)], as: .f16) == [0x01, 0x7C])
  }

  @Test("types Graft cannot decode are refused by name when read")
  func refusals() throws {
    for type in [GGMLType.iq2_XXS, .iq1_S, .iq3_S, .q1_0, .q8_K] {
      #expect(!GGUFDequantize.isSupported(type))
      do {
        try GGUFDequantize.requireSupported(type)
        Issue.record("\(type) accepted")
      } catch {
        #expect(error.code == .unsupportedDType)
        #expect(error.message.contains(type.name))
      }
    }
    #expect(throws: GraftError.self) { _ = try quantize([Float](repeating: 0, count: 256), as: .iq4_XS) }
  }
}
