import GraftCore
import GraftFormats
import TestSupport
import Testing

@Suite("GGUF inspection")
struct GGUFInspectionTests {
  @Test("lines abbreviate the vocabulary; the JSON keeps it whole; the mix counts parameters per type")
  func model() throws {
    let inspection = try GGUFInspection.inspect(path: TestPaths.fixture("gguf/model.gguf"))
    let lines = inspection.lines(arrayPreview: 3)
    #expect(lines.first == "GGUF v3, alignment 32, 17 keys, 5 tensors")
    #expect(lines.contains("architecture: llama"))
    #expect(lines.contains("  llama.block_count = 1 (UINT32)"))
    #expect(lines.contains("  llama.attention.layer_norm_rms_epsilon = 1e-05 (FLOAT32)"))
    #expect(lines.contains("  tokenizer.ggml.tokens = [STRING × 64] \"<unk>\", \"<s>\", \"</s>\", … (61 more)"))
    #expect(lines.contains { $0.hasPrefix("  blk.0.attn_v.weight") && $0.contains("Q8_0") && $0.hasSuffix("[4, 256]") })
    let mix = inspection.quantizationMix
    // Most parameters first; ties in ggml type order.
    #expect(mix.map(\.type) == [.f16, .q8_0, .bf16, .f32])
    #expect(mix.first { $0.type == .f32 }?.parameterCount == 512 + 256)
    #expect(mix.first { $0.type == .q8_0 }?.byteCount == 32 * 34)
    let json = inspection.json
    #expect(json["metadata"]?["tokenizer.ggml.tokens"]?["value"]?.arrayValue?.count == 64)
    #expect(json["metadata"]?["llama.block_count"]?["type"] == .string("UINT32"))
    #expect(json["tensors"]?.arrayValue?.first?["ggml_dims"] == [.int(256), .int(2)])
    #expect(json["parameter_count"] == .int(512 + 256 + 3 * 1024))
  }

  @Test("a split checkpoint is inspected as one")
  func split() throws {
    let inspection = try GGUFInspection.inspect(path: TestPaths.fixture("gguf/split-00002-of-00002.gguf"))
    #expect(inspection.files.count == 2)
    #expect(inspection.tensors.count == 3)
    #expect(inspection.lines(includeTensors: false).first?.contains("2 splits") == true)
  }
}
