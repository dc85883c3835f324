import GraftCore
import TestSupport
import Testing

@testable import GraftEngine

@Suite("Weights packed per call: borrowed in place, bit-identical to packed at build")
struct WeightPackingTests {
  /// Deterministic values with varied magnitudes and signs (no two products round alike by accident).
  func values(_ count: Int, seed: UInt64) -> [Float] {
    var rng = SplitMix64(seed: seed)
    return (0..<count).map { _ in rng.nextSignedUnitFloat() * 3 }
  }

  @Test("Linear.forward is bit-identical, with and without bias, wide enough to split across threads")
  func linearIdentical() throws {
    // 70 outputs (not a multiple of any nr) at depth 300 (two depth blocks); the second shape is past the GEMM's
    // threading threshold (2²⁰ multiply-adds), so the column split is exercised too.
    for (out, inp, rows) in [(70, 300, 9), (520, 1040, 5)] {
      var table = TensorTable()
      try table.append("l.weight", Tensor(float32: values(out * inp, seed: 1), shape: [out, inp]))
      try table.append("l.bias", Tensor(float32: values(out, seed: 2), shape: [out]))
      try table.append("n.weight", Tensor(float32: values(out * inp, seed: 3), shape: [out, inp]))
      let x = try FloatTensor(shape: [rows, inp], values: values(rows * inp, seed: 4))
      for name in ["l.", "n."] {
        let packed = try Linear(WeightLoader(table: table), prefix: name, inFeatures: inp, outFeatures: out)
        let perCall = try Linear(
          WeightLoader(table: table, packing: .perCall), prefix: name, inFeatures: inp, outFeatures: out)
        guard case .rowMajor = perCall.weight else {
          Issue.record("expected the per-call layer to keep its weight row-major")
          continue
        }
        let a = try packed.forward(x).values
        let b = try perCall.forward(x).values
        #expect(a.map(\.bitPattern) == b.map(\.bitPattern), "\(name) \(out)×\(inp)")
        // accumulate (the residual path) goes through the same product.
        var ya = [Float](repeating: 0.25, count: rows * out)
        var yb = ya
        x.values.withUnsafeBufferPointer { xp in
          ya.withUnsafeMutableBufferPointer { packed.accumulate(xp.baseAddress!, rows: rows, into: $0.baseAddress!) }
          yb.withUnsafeMutableBufferPointer { perCall.accumulate(xp.baseAddress!, rows: rows, into: $0.baseAddress!) }
        }
        #expect(ya.map(\.bitPattern) == yb.map(\.bitPattern))
      }
    }
  }

  @Test("a borrowed weight keeps the loader's checks: NaN and infinity are named, usage is recorded")
  func borrowedChecks() throws {
    var w = [Float](repeating: 0.5, count: 40 * 3)
    w[37] = .infinity
    w[118] = .nan
    var table = TensorTable()
    try table.append("l.weight", Tensor(float32: w, shape: [40, 3]))
    let usage = TensorUsage()
    do {
      _ = try Linear(
        WeightLoader(table: table, usage: usage, packing: .perCall), prefix: "l.", inFeatures: 3, outFeatures: 40)
      Issue.record("expected an error")
    } catch {
      #expect(error.tensor == "l.weight")
      #expect(error.message.contains("1 NaN and 1 infinite values (first at flat index 37)"), "\(error)")
    }
    var ok = TensorTable()
    try ok.append("l.weight", Tensor(float32: values(40 * 3, seed: 5), shape: [40, 3]))
    _ = try Linear(
      WeightLoader(table: ok, usage: usage, packing: .perCall), prefix: "l.", inFeatures: 3, outFeatures: 40)
    #expect(usage.contains("l.weight"))
  }

  @Test("the finiteness scan finds a special value in every lane and in the tail")
  func finiteScan() {
    for count in [0, 1, 15, 16, 17, 33, 64] {
      let clean = [Float](repeating: -2, count: count)
      #expect(clean.withUnsafeBufferPointer { WeightLoader.allFinite($0) })
      for i in 0..<count {
        for special in [Float.nan, .infinity, -.infinity] {
          var v = clean
          v[i] = special
          #expect(!v.withUnsafeBufferPointer { WeightLoader.allFinite($0) }, "count \(count) index \(i)")
        }
      }
    }
    // The largest finite values and subnormals are finite.
    let edge: [Float] = [.greatestFiniteMagnitude, -.greatestFiniteMagnitude, .leastNonzeroMagnitude, 0, -0]
    #expect((edge + edge + edge + edge).withUnsafeBufferPointer { WeightLoader.allFinite($0) })
  }
}
