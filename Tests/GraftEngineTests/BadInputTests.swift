import GraftCore
import TestSupport
import Testing

@testable import GraftEngine

@Suite("Bad checkpoints and inputs give clear errors")
struct BadInputTests {
  func expectModelError(
    _ table: TensorTable, options: VisionTransformer.Options = .init(), tensor: String, mentions: String,
    sourceLocation: SourceLocation = #_sourceLocation
  ) {
    do {
      _ = try VisionTransformer(table, options: options)
      Issue.record("expected an error", sourceLocation: sourceLocation)
    } catch {
      #expect(error.code == .invalidModel || error.code == .unsupported, sourceLocation: sourceLocation)
      #expect(error.tensor == tensor, "\(error)", sourceLocation: sourceLocation)
      #expect(error.message.contains(mentions), "\(error)", sourceLocation: sourceLocation)
    }
  }

  func fixture() throws -> TensorTable { try loadFixture("vit_token").model }

  func modified(_ name: String, _ tensor: Tensor?) throws -> TensorTable {
    var t = try fixture()
    if let tensor { try t.replace(name, with: tensor) } else { t.removeAll { $0.name == name } }
    return t
  }

  @Test("a checkpoint that is not a ViT")
  func notAViT() throws {
    var t = TensorTable()
    try t.append("encoder.layer.0.weight", Tensor(float32: [1, 2], shape: [2]))
    expectModelError(t, tensor: "patch_embed.proj.weight", mentions: "not a timm VisionTransformer")
  }

  @Test("a missing tensor is named with its expected shape")
  func missing() throws {
    expectModelError(
      try modified("blocks.1.mlp.fc2.weight", nil), tensor: "blocks.1.mlp.fc2.weight", mentions: "[32, 128]")
  }

  @Test("a misshapen tensor is named with found and expected shapes")
  func misshapen() throws {
    let t = try modified(
      "blocks.0.attn.qkv.weight", Tensor(float32: [Float](repeating: 0, count: 95 * 32), shape: [95, 32]))
    expectModelError(t, tensor: "blocks.0.attn.qkv.weight", mentions: "expected [96, 32]")
  }

  @Test("heads that do not divide the width")
  func heads() throws {
    expectModelError(
      try fixture(), options: .init(heads: 5), tensor: "blocks.0.attn.qkv.weight",
      mentions: "5 heads (given) do not divide the width 32; divisors near it: 2, 4")
  }

  @Test("NaN and infinity in weights are reported")
  func nonFinite() throws {
    var values = [Float](repeating: 0.5, count: 32)
    values[3] = .nan
    values[7] = .infinity
    let t = try modified("norm.weight", Tensor(float32: values, shape: [32]))
    expectModelError(t, tensor: "norm.weight", mentions: "1 NaN and 1 infinite values (first at flat index 3)")
  }

  @Test("an input of the wrong shape")
  func wrongInput() throws {
    let model = try VisionTransformer(fixture())
    do {
      _ = try model.forward(FloatTensor(zeros: [1, 3, 15, 16]))
      Issue.record("expected an error")
    } catch {
      #expect(error.code == .invalidArgument)
      #expect(error.message.contains("[N, 3, 16, 16]"), "\(error)")
    }
  }

  @Test("a block numbering gap")
  func gap() throws {
    var t = try fixture()
    t.removeAll { $0.name.hasPrefix("blocks.0.") }
    // Blocks start at 1: nothing at 0 is complete, so block 1's tensors are strays.
    do {
      _ = try VisionTransformer(t)
      Issue.record("expected an error")
    } catch {
      #expect(error.code == .invalidModel)
      #expect(error.tensor?.hasPrefix("blocks.1.") == true, "\(error)")
    }
  }
}
