import Foundation
import GraftCore
import TestSupport
import Testing

@testable import GraftEngine

/// Double-precision references for the kernels.
enum Reference {
  static func matmul(_ a: [Float], _ b: [Float], m: Int, n: Int, k: Int) -> [Double] {
    var c = [Double](repeating: 0, count: m * n)
    for i in 0..<m {
      for p in 0..<k {
        let av = Double(a[i * k + p])
        for j in 0..<n { c[i * n + j] += av * Double(b[p * n + j]) }
      }
    }
    return c
  }

  static func maxError(_ got: [Float], _ want: [Double]) -> (abs: Double, scale: Double) {
    var e = 0.0
    var s = 0.0
    for (g, w) in zip(got, want) {
      e = max(e, abs(Double(g) - w))
      s = max(s, abs(w))
    }
    return (e, s)
  }
}

@Suite("Kernels against float64 references")
struct KernelTests {
  @Test(
    "SGEMM matches float64 on edge shapes, serial and threaded",
    arguments: [(1, 1, 1), (5, 7, 3), (6, 16, 8), (13, 33, 300), (37, 50, 19), (64, 64, 64), (7, 130, 520)])
  func sgemm(shape: (Int, Int, Int)) {
    let (m, n, k) = shape
    var rng = SplitMix64(seed: UInt64(m * 1000 + n * 10 + k))
    let a = rng.floats(m * k)
    let b = rng.floats(k * n)
    let want = Reference.matmul(a, b, m: m, n: n, k: k)
    for threads in [1, 2] {
      var c = [Float](repeating: 0, count: m * n)
      a.withUnsafeBufferPointer { ap in
        b.withUnsafeBufferPointer { bp in
          c.withUnsafeMutableBufferPointer { cp in
            GEMM.multiply(
              m: m, n: n, k: k, a: MatrixOperand(ap.baseAddress!, rowStride: k),
              b: MatrixOperand(bp.baseAddress!, rowStride: n), c: cp.baseAddress!, ldc: n, threads: threads)
          }
        }
      }
      let (err, _) = Reference.maxError(c, want)
      #expect(err <= 1e-5 * Double(k).squareRoot() + 1e-6, "threads \(threads): max abs error \(err)")
    }
  }

  @Test("batched matmul matches float64 per batch item, small and large")
  func batched() {
    for (count, m, n, k) in [(5, 3, 17, 9), (2, 100, 100, 420)] {
      var rng = SplitMix64(seed: UInt64(count * m))
      let a = rng.floats(count * m * k)
      let b = rng.floats(count * k * n)
      var c = [Float](repeating: 0, count: count * m * n)
      a.withUnsafeBufferPointer { ap in
        b.withUnsafeBufferPointer { bp in
          c.withUnsafeMutableBufferPointer { cp in
            guard let pa = ap.baseAddress, let pb = bp.baseAddress, let pc = cp.baseAddress else { return }
            Matmul.batchedMultiplyAdd(count: count, m: m, n: n, k: k, a: pa, b: pb, c: pc)
          }
        }
      }
      var err = 0.0
      for i in 0..<count {
        let want = Reference.matmul(
          Array(a[(i * m * k)..<((i + 1) * m * k)]), Array(b[(i * k * n)..<((i + 1) * k * n)]), m: m, n: n, k: k)
        err = max(err, Reference.maxError(Array(c[(i * m * n)..<((i + 1) * m * n)]), want).abs)
      }
      #expect(err <= 1e-5 * Double(k).squareRoot() + 1e-6, "batch \(count)×\(m)×\(n)×\(k): max abs error \(err)")
    }
  }

  @Test("SGEMM with a pre-packed transposed weight and strided operands")
  func packedLinear() throws {
    let (rows, inF, outF) = (11, 300, 37)
    var rng = SplitMix64(seed: 9)
    let x = rng.floats(rows * inF)
    let w = rng.floats(outF * inF)
    let bias = rng.floats(outF)
    let layer = Linear(weight: w, bias: bias, outFeatures: outF, inFeatures: inF)
    let y = try layer.forward(FloatTensor(shape: [rows, inF], values: x))
    var wT = [Float](repeating: 0, count: inF * outF)
    for o in 0..<outF { for i in 0..<inF { wT[i * outF + o] = w[o * inF + i] } }
    var want = Reference.matmul(x, wT, m: rows, n: outF, k: inF)
    for r in 0..<rows { for o in 0..<outF { want[r * outF + o] += Double(bias[o]) } }
    #expect(y.shape == [rows, outF])
    let (err, _) = Reference.maxError(y.values, want)
    #expect(err < 2e-5, "max abs error \(err)")
  }

  @Test("exp, erf and tanh agree with libm in float64")
  func vectorMath() {
    var worst = (exp: 0.0, erf: 0.0, tanh: 0.0)
    var x: Float = -12
    while x < 12 {
      let v = SIMD8<Float>((0..<8).map { x + Float($0) * 0.0007 })
      let e = VectorMath.exp(v)
      let r = VectorMath.erf(v)
      let t = VectorMath.tanh(v)
      for l in 0..<8 {
        let xd = Double(v[l])
        worst.exp = max(worst.exp, abs(Double(e[l]) - Foundation.exp(xd)) / Foundation.exp(xd))
        worst.erf = max(worst.erf, abs(Double(r[l]) - Foundation.erf(xd)))
        worst.tanh = max(worst.tanh, abs(Double(t[l]) - Foundation.tanh(xd)))
      }
      x += 0.0113
    }
    #expect(worst.exp < 3e-7, "exp rel \(worst.exp)")
    #expect(worst.erf < 3e-7, "erf abs \(worst.erf)")
    #expect(worst.tanh < 3e-7, "tanh abs \(worst.tanh)")
  }

  @Test("GELU, erf and tanh forms")
  func gelu() {
    var rng = SplitMix64(seed: 3)
    let x = rng.floats(1000, scale: 6)
    for tanhForm in [false, true] {
      var y = x
      y.withUnsafeMutableBufferPointer { RowKernels.gelu($0.baseAddress!, count: $0.count, approximateTanh: tanhForm) }
      var err = 0.0
      for (xi, yi) in zip(x, y) {
        let d = Double(xi)
        let want =
          tanhForm
          ? 0.5 * d * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * (d + 0.044715 * d * d * d)))
          : 0.5 * d * (1 + Foundation.erf(d / 2.0.squareRoot()))
        err = max(err, abs(Double(yi) - want))
      }
      #expect(err < 2e-6, "tanh form \(tanhForm): max abs error \(err)")
    }
  }

  @Test("LayerNorm with a large offset stays accurate (two-pass variance)")
  func layerNorm() throws {
    let (rows, width) = (3, 777)
    var rng = SplitMix64(seed: 5)
    let x = rng.floats(rows * width).map { $0 + 1000 }
    let g = rng.floats(width)
    let b = rng.floats(width)
    let y = try LayerNorm(width: width, gamma: g, beta: b, eps: 1e-6).forward(
      FloatTensor(shape: [rows, width], values: x))
    var err = 0.0
    for r in 0..<rows {
      let row = x[(r * width)..<((r + 1) * width)].map(Double.init)
      let mean = row.reduce(0, +) / Double(width)
      let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(width)
      for j in 0..<width {
        let want = (row[j] - mean) / (variance + 1e-6).squareRoot() * Double(g[j]) + Double(b[j])
        err = max(err, abs(Double(y.values[r * width + j]) - want))
      }
    }
    // Float32 inputs near 1000 carry an absolute rounding of 3e-5 on a spread of ~0.6: that bounds the error.
    #expect(err < 5e-4, "max abs error \(err)")
  }

  @Test("softmax rows sum to one and match float64")
  func softmax() {
    var rng = SplitMix64(seed: 6)
    var x = rng.floats(4 * 50, scale: 30)
    let original = x
    x.withUnsafeMutableBufferPointer {
      RowKernels.softmaxInPlace($0.baseAddress!, rows: 4, width: 50, stride: 50, scale: 0.5)
    }
    var err = 0.0
    for r in 0..<4 {
      let row = original[(r * 50)..<((r + 1) * 50)].map { Double($0) * 0.5 }
      let m = row.max()!
      let e = row.map { Foundation.exp($0 - m) }
      let s = e.reduce(0, +)
      for j in 0..<50 { err = max(err, abs(Double(x[r * 50 + j]) - e[j] / s)) }
    }
    #expect(err < 1e-6, "max abs error \(err)")
  }

  @Test("addInPlace with gamma stops at count when count is not a multiple of the width")
  func addInPlacePartialRow() {
    // count 7, width 3: two whole rows and a row of 1. Two guard elements after y and x catch a read or write past
    // the end (the loop used to run whole rows, touching indices 7 and 8).
    var y: [Float] = [1, 1, 1, 1, 1, 1, 1, -7, -7]
    let x: [Float] = [1, 2, 3, 4, 5, 6, 7, 100, 100]
    let gamma: [Float] = [10, 20, 30]
    y.withUnsafeMutableBufferPointer { yb in
      x.withUnsafeBufferPointer { xb in
        gamma.withUnsafeBufferPointer { gb in
          guard let yp = yb.baseAddress, let xp = xb.baseAddress, let gp = gb.baseAddress else { return }
          RowKernels.addInPlace(yp, xp, count: 7, gamma: gp, width: 3)
        }
      }
    }
    #expect(y == [11, 41, 91, 41, 101, 181, 71, -7, -7])
  }

  @Test("Conv2d with stride, padding and groups matches a direct float64 convolution")
  func conv2d() throws {
    let (n, c, h, w, o, k, s, p, g) = (2, 4, 9, 7, 6, 3, 2, 1, 2)
    var rng = SplitMix64(seed: 8)
    let x = rng.floats(n * c * h * w)
    let weight = rng.floats(o * (c / g) * k * k)
    let bias = rng.floats(o)
    let conv = try Conv2d(
      weight: weight, bias: bias, outChannels: o, inChannels: c, kernel: (k, k), stride: (s, s), padding: (p, p),
      groups: g)
    let y = try conv.forward(FloatTensor(shape: [n, c, h, w], values: x))
    let oh = (h + 2 * p - k) / s + 1
    let ow = (w + 2 * p - k) / s + 1
    #expect(y.shape == [n, o, oh, ow])
    var err = 0.0
    for b in 0..<n {
      for oc in 0..<o {
        let grp = oc / (o / g)
        for oy in 0..<oh {
          for ox in 0..<ow {
            var acc = Double(bias[oc])
            for ic in 0..<(c / g) {
              for ky in 0..<k {
                for kx in 0..<k {
                  let iy = oy * s - p + ky
                  let ix = ox * s - p + kx
                  guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                  let xv = x[((b * c + grp * (c / g) + ic) * h + iy) * w + ix]
                  acc += Double(xv) * Double(weight[((oc * (c / g) + ic) * k + ky) * k + kx])
                }
              }
            }
            err = max(err, abs(Double(y.values[((b * o + oc) * oh + oy) * ow + ox]) - acc))
          }
        }
      }
    }
    #expect(err < 1e-5, "max abs error \(err)")
  }

  @Test("top-k orders values, breaks ties by index; gather picks rows")
  func selection() throws {
    let x = try FloatTensor(shape: [2, 5], values: [1, 5, 3, 5, -1, 0, -2, 7, 7, 1])
    let (idx, vals) = try Selection.topK(x, k: 3)
    #expect(idx == [[1, 3, 2], [2, 3, 4]])
    #expect(vals == [[5, 5, 3], [7, 7, 1]])
    let rows = try Selection.gatherRows(x, indices: [1, 0, 1])
    #expect(rows.shape == [3, 5])
    #expect(Array(rows.values[0..<5]) == [0, -2, 7, 7, 1])
    #expect(throws: GraftError.self) { try Selection.gatherRows(x, indices: [2]) }
    #expect(throws: GraftError.self) { try Selection.topK(x, k: 6) }
  }

  @Test("the worker pool runs every part exactly once, also when nested")
  func pool() {
    let pool = WorkerPool(threads: 2)
    let counts = UnsafeMutablePointer<Int>.allocate(capacity: 64)
    counts.initialize(repeating: 0, count: 64)
    defer { counts.deallocate() }
    let shared = SharedPointer(counts)
    for _ in 0..<200 {
      pool.run(parts: 64) { part in
        shared.pointer[part] += 1
        pool.run(parts: 2) { _ in }  // nested: runs serially
      }
    }
    #expect((0..<64).allSatisfy { counts[$0] == 200 })
  }
}
