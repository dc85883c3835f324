import GraftCore
import GraftFormats
import TestSupport
import Testing

@testable import GraftEngine

/// Loads a fixture pair written by `scripts/fixtures/engine.py`.
func loadFixture(_ name: String) throws -> (model: TensorTable, io: TensorTable) {
  let model = try SafeTensors.read(path: TestPaths.fixture("engine/\(name).safetensors"))
  let io = try SafeTensors.read(path: TestPaths.fixture("engine/\(name).io.safetensors"))
  return (model, io)
}

func floatTensor(_ table: TensorTable, _ name: String) throws -> FloatTensor {
  let t = try #require(table[name], "fixture tensor \(name)")
  return try FloatTensor(shape: t.shape, values: floatValues(t))
}

/// max |a − b| and max |b|.
func errorAndScale(_ got: FloatTensor, _ want: FloatTensor) -> (error: Float, scale: Float) {
  var e: Float = 0
  for (a, b) in zip(got.values, want.values) { e = max(e, abs(a - b)) }
  return (e, want.maxMagnitude)
}

@Suite("timm VisionTransformer against PyTorch")
struct VisionTransformerTests {
  static let fixtures = ["vit_token", "vit_avg_nocls", "vit_features", "vit_reg_f16", "vit_medium_bf16"]

  @Test("outputs and every block's hidden state match PyTorch within 1e-4 × max|output|", arguments: fixtures)
  func matchesPyTorch(name: String) throws {
    let (weights, io) = try loadFixture(name)
    let model = try VisionTransformer(weights)
    let input = try floatTensor(io, "input")
    let result = try model.forward(input, hiddenStates: true)
    let want = try floatTensor(io, "output")
    #expect(result.output.shape == want.shape)
    let (e, s) = errorAndScale(result.output, want)
    print("[\(name)] output \(want.shape): max abs error \(e), max|output| \(s), ratio \(e / s)")
    #expect(e <= 1e-4 * s)
    let pooled = try floatTensor(io, "pooled")
    let (pe, ps) = errorAndScale(result.pooled, pooled)
    #expect(pe <= 1e-4 * ps, "pooled: \(pe) vs scale \(ps)")
    #expect(result.hiddenStates.count == model.configuration.depth.value)
    for (i, h) in result.hiddenStates.enumerated() {
      let ref = try floatTensor(io, "hidden.\(i)")
      #expect(h.shape == ref.shape)
      let (he, hs) = errorAndScale(h, ref)
      print("[\(name)] hidden.\(i) \(ref.shape): max abs error \(he), max|h| \(hs), ratio \(he / hs)")
      #expect(he <= 1e-4 * hs)
    }
  }

  @Test("configuration comes from the tensors and the fixtures' timm_args metadata, each with its source")
  func resolvedConfiguration() throws {
    let token = try VisionTransformer(loadFixture("vit_token").model).configuration
    #expect(token.embedDim.value == 32 && token.depth.value == 2 && token.heads.value == 2)
    #expect(token.patchSize.value == [4, 4] && token.imageSize.value == [16, 16] && token.hasClassToken.value)
    #expect(token.globalPool.value == .token && token.numClasses.value == 10)
    #expect(["num_heads", "timm_args num_heads"].contains(token.heads.source.detail))
    #expect(token.globalPool.source.description == "metadata timm default (complete arguments: timm_args)")
    #expect(token.embedDim.source.kind == "inferred" && token.assumptions.isEmpty)
    let avg = try VisionTransformer(loadFixture("vit_avg_nocls").model)
    #expect(avg.keyPrefix == "module.")
    #expect(!avg.configuration.hasClassToken.value && avg.configuration.globalPool.value == .avg)
    #expect(avg.configuration.heads.value == 3)
    let reg = try VisionTransformer(loadFixture("vit_reg_f16").model).configuration
    #expect(reg.registerTokens.value == 2 && reg.noEmbedClass.value && reg.tokens == 1 + 2 + 16)
    let features = try VisionTransformer(loadFixture("vit_features").model).configuration
    #expect(features.numClasses.value == 0 && features.activation.value == .geluTanh)
    #expect(features.lines.contains { $0.hasPrefix("act_layer = gelu_tanh (metadata ") })
  }

  @Test("nn.MultiheadAttention in_proj layout matches PyTorch")
  func multiheadAttentionLayout() throws {
    let (weights, io) = try loadFixture("mha")
    let attention = try MultiHeadAttention(
      WeightLoader(table: weights), prefix: "attn.", width: 24, heads: 3, eps: 1e-5)
    let got = try attention.forward(floatTensor(io, "input"))
    let (e, s) = errorAndScale(got, try floatTensor(io, "output"))
    print("[mha] max abs error \(e), max|output| \(s)")
    #expect(e <= 1e-4 * s)
  }

  @Test("batch results equal single-sample results")
  func batchConsistency() throws {
    let (weights, io) = try loadFixture("vit_token")
    let model = try VisionTransformer(weights)
    let input = try floatTensor(io, "input")
    let both = try model.forward(input).output
    let half = input.count / 2
    let first = try model.forward(
      FloatTensor(shape: [1] + Array(input.shape.dropFirst()), values: Array(input.values[0..<half])))
    let (e, _) = errorAndScale(
      first.output, try FloatTensor(shape: first.output.shape, values: Array(both.values[0..<first.output.count])))
    #expect(e < 1e-6)
  }
}
