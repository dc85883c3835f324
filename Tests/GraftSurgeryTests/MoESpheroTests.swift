import GraftCore
import GraftEngine
import GraftFormats
import TestSupport
import Testing

@Suite("SpheroMoE layer against PyTorch")
struct MoESpheroTests {
  @Test("the engine's dual-path soft MoE matches the PyTorch restatement of Jetpack's layer")
  func matchesPyTorch() throws {
    let table = try SafeTensors.read(path: TestPaths.fixture("moe/spheromoe.safetensors"))
    let weights = WeightLoader(table: table)
    let layer = try #require(
      try SpheroMoEBuilder().makeLayer(weights, prefix: "blocks.0.mlp.", width: 16, activation: .gelu)
        as? SpheroMoELayer)
    #expect(layer.tokens == 5 && layer.coreExperts.count == 2 && layer.universalExperts.count == 4)
    let x = try FloatTensor(shape: [2, 5, 16], values: try floatValues(try #require(table["input"])))
    let expected = try floatValues(try #require(table["expected"]))
    let y = try layer.forward(x)
    let close = allClose(y.values, expected, rtol: 1e-4, atol: 1e-5)
    #expect(close.passed, "\(close)")
  }

  @Test("seeded logit noise is reproducible and changes the output")
  func noise() throws {
    let table = try SafeTensors.read(path: TestPaths.fixture("moe/spheromoe.safetensors"))
    let weights = WeightLoader(table: table)
    let noisy = SpheroMoEBuilder(noise: (seed: 4, multiplier: 1 / 6))
    let a = try #require(try noisy.makeLayer(weights, prefix: "blocks.0.mlp.", width: 16, activation: .gelu))
    let b = try #require(try noisy.makeLayer(weights, prefix: "blocks.0.mlp.", width: 16, activation: .gelu))
    let clean = try #require(
      try SpheroMoEBuilder().makeLayer(weights, prefix: "blocks.0.mlp.", width: 16, activation: .gelu))
    let x = try FloatTensor(shape: [2, 5, 16], values: try floatValues(try #require(table["input"])))
    let ya = try #require(a as? SpheroMoELayer).forward(x)
    let yb = try #require(b as? SpheroMoELayer).forward(x)
    let yc = try #require(clean as? SpheroMoELayer).forward(x)
    #expect(ya == yb)
    #expect(ya != yc)
  }
}
