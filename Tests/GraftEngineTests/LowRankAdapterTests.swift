import GraftCore
import GraftEngine
import TestSupport
import Testing

@Suite("Unmerged LoRA path")
struct LowRankAdapterTests {
  @Test("Linear with a low-rank path computes W·x + b + up·(down·x), and DoRA's b + f ⊙ (…)", arguments: [false, true])
  func linear(dora: Bool) throws {
    let (o, i, r, rows) = (5, 7, 2, 3)
    var rng = SplitMix64(seed: 4)
    let w = rng.floats(o * i)
    let b = rng.floats(o)
    let down = rng.floats(r * i)
    let up = rng.floats(o * r)
    let f: [Float]? = dora ? rng.floats(o).map { 1 + $0 / 4 } : nil
    let x = rng.floats(rows * i)
    let layer = Linear(
      weight: w, bias: b, outFeatures: o, inFeatures: i,
      lowRank: try LowRankAdapter(down: down, up: up, rank: r, inFeatures: i, outFeatures: o, scale: f))
    let y = try layer.forward(try FloatTensor(shape: [rows, i], values: x))
    var expected = [Float](repeating: 0, count: rows * o)
    for n in 0..<rows {
      for p in 0..<o {
        var acc = 0.0
        for q in 0..<i {
          var d = 0.0
          for k in 0..<r { d += Double(up[p * r + k]) * Double(down[k * i + q]) }
          acc += (Double(w[p * i + q]) + d) * Double(x[n * i + q])
        }
        expected[n * o + p] = Float(acc * Double(f?[p] ?? 1) + Double(b[p]))
      }
    }
    #expect(allClose(y.values, expected, rtol: 1e-5, atol: 1e-6).passed)
  }

  @Test("factors that do not fit the layer are refused")
  func badShapes() {
    #expect(throws: GraftError.self) {
      try LowRankAdapter(down: [1, 2, 3], up: [1], rank: 1, inFeatures: 2, outFeatures: 1, scale: nil)
    }
  }
}
