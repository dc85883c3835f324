import GraftCore
import TestSupport
import Testing

@testable import GraftEngine

/// Every kernel variant this CPU supports (portable, AVX2, AVX-512) against the portable one and float64.
///
/// Tolerances: the variants differ only in vector width, FMA contraction and summation order, so row kernels agree to
/// a few float32 ulps of the result (2e-6 relative, 1e-6 absolute near zero); SGEMM results to `k·ε` of Σ|a||b|.
@Suite("Kernel variants agree with the portable kernels")
struct KernelVariantTests {
  static let variants = KernelSet.supported

  @Test("the portable variant always exists and the active one is supported")
  func selection() {
    #expect(Self.variants.first?.name == "portable")
    #expect(Self.variants.contains { $0.name == KernelSet.active.name })
    #expect(EngineBuildInfo.features.contains(KernelSet.active.name))
    for kernels in Self.variants {
      #expect(GEMM.mc % kernels.mr == 0, "\(kernels.name): mc is a multiple of mr")
    }
  }

  @Test(
    "SGEMM, packed per call and pre-packed with bias, on edge shapes",
    // Row counts past the last full tile reach every edge kernel (2, 4, 6, 8, 10 rows and the full tile); depths
    // above 64 split the micro-kernel at the C prefetch, depths not a multiple of 4 end A packing one step at a time,
    // 130 and 300 columns pack B eight panels at a time (avx2 and avx512) and then panel by panel.
    arguments: [
      (1, 1, 1), (5, 7, 3), (12, 32, 8), (13, 33, 300), (25, 70, 19), (7, 130, 800), (3, 300, 9), (16, 33, 66),
      (21, 31, 70), (23, 64, 5),
    ])
  func sgemm(shape: (Int, Int, Int)) {
    let (m, n, k) = shape
    var rng = SplitMix64(seed: UInt64(m * 1000 + n * 10 + k))
    let a = rng.floats(m * k)
    let b = rng.floats(k * n)
    let bias = rng.floats(n)
    let initial = rng.floats(m * n)
    var want = Reference.matmul(a, b, m: m, n: n, k: k)
    var bound = [Double](repeating: 0, count: m * n)
    for i in 0..<m {
      for j in 0..<n { for p in 0..<k { bound[i * n + j] += abs(Double(a[i * k + p]) * Double(b[p * n + j])) } }
    }
    let wantPacked = zip(want.indices, want).map { ($1 + Double(bias[$0 % n])) }
    for (i, v) in initial.enumerated() { want[i] += Double(v) }
    for kernels in Self.variants {
      var c = initial
      var d = [Float](repeating: .nan, count: m * n)
      a.withUnsafeBufferPointer { ap in
        b.withUnsafeBufferPointer { bp in
          let packed = PackedMatrix(
            rows: k, cols: n, from: MatrixOperand(bp.baseAddress!, rowStride: n), kernels: kernels)
          c.withUnsafeMutableBufferPointer { cp in
            GEMM.multiply(
              m: m, n: n, k: k, a: MatrixOperand(ap.baseAddress!, rowStride: k),
              b: MatrixOperand(bp.baseAddress!, rowStride: n), c: cp.baseAddress!, ldc: n, threads: 2,
              kernels: kernels)
          }
          d.withUnsafeMutableBufferPointer { dp in
            bias.withUnsafeBufferPointer { biasp in
              GEMM.multiply(
                m: m, a: MatrixOperand(ap.baseAddress!, rowStride: k), b: packed, c: dp.baseAddress!, ldc: n,
                threads: 2, overwrite: true, bias: biasp.baseAddress)
            }
          }
        }
      }
      for i in 0..<(m * n) {
        let tolerance = Double(k + 2) * 1.2e-7 * (bound[i] + abs(Double(initial[i])) + abs(Double(bias[i % n])))
        #expect(abs(Double(c[i]) - want[i]) <= tolerance, "\(kernels.name) C += A·B at \(i): \(c[i]) vs \(want[i])")
        #expect(
          abs(Double(d[i]) - wantPacked[i]) <= tolerance, "\(kernels.name) C = A·B + b at \(i): \(d[i])")
      }
    }
  }

  /// Runs `body` on a copy of `input` with every variant and checks each against portable.
  private func agree(
    _ what: String, _ input: [Float], relative: Float = 2e-6, absolute: Float = 1e-6,
    _ body: (KernelSet, UnsafeMutablePointer<Float>) -> Void
  ) {
    var reference = input
    reference.withUnsafeMutableBufferPointer { if let p = $0.baseAddress { body(KernelSet.portable, p) } }
    for kernels in Self.variants {
      var out = input
      out.withUnsafeMutableBufferPointer { if let p = $0.baseAddress { body(kernels, p) } }
      for (x, y) in zip(out, reference) {
        let bad = !(abs(x - y) <= absolute + relative * abs(y)) && !(x.isNaN && y.isNaN)
        #expect(!bad, "\(what), \(kernels.name): \(x) vs portable \(y)")
        if bad { break }
      }
    }
  }

  @Test("softmax, LayerNorm and RMSNorm rows of every width up to two vectors and a long one")
  func rows() {
    var rng = SplitMix64(seed: 7)
    for width in Array(1...35) + [197, 1000] {
      let rows = 3
      let x = rng.floats(rows * width).map { $0 * 6 + 0.5 }
      let gamma = rng.floats(width)
      let beta = rng.floats(width)
      agree("softmax width \(width)", x) { k, p in
        k.softmax(p, rows: rows, width: width, stride: width, scale: 0.7)
      }
      gamma.withUnsafeBufferPointer { g in
        beta.withUnsafeBufferPointer { b in
          agree("layerNorm width \(width)", x) { k, p in
            k.layerNorm(
              p, p, rows: rows, width: width, xStride: width, yStride: width, gamma: g.baseAddress, beta: b.baseAddress,
              eps: 1e-6)
          }
          agree("rmsNorm width \(width)", x) { k, p in
            k.rmsNorm(p, p, rows: rows, width: width, xStride: width, yStride: width, gamma: g.baseAddress, eps: 1e-6)
          }
          agree("rmsNorm without weight, width \(width)", x) { k, p in
            k.rmsNorm(p, p, rows: rows, width: width, xStride: width, yStride: width, gamma: nil, eps: 1e-6)
          }
        }
      }
    }
  }

  @Test("GELU (erf and tanh), SiLU and SiLU·up over the whole range, tails included")
  func activations() {
    var rng = SplitMix64(seed: 11)
    let x = (0..<1003).map { i in i < 20 ? Float(i - 10) * 12 : rng.nextSignedUnitFloat() * 12 }
    let up = rng.floats(x.count)
    agree("gelu erf", x, absolute: 2e-6) { k, p in k.gelu(p, count: x.count, approximateTanh: false) }
    agree("gelu tanh", x, absolute: 2e-6) { k, p in k.gelu(p, count: x.count, approximateTanh: true) }
    agree("silu", x, absolute: 2e-6) { k, p in k.silu(p, count: x.count) }
    up.withUnsafeBufferPointer { u in
      agree("silu·up", x, absolute: 2e-6) { k, p in
        k.siluMultiply(gate: p, up: u.baseAddress!, into: p, count: x.count)
      }
    }
  }

  @Test("F16 and BF16 → F32 are exact for every bit pattern")
  func halfCasts() {
    let bits = (0...UInt16.max).map { $0 }
    for kernels in Self.variants {
      var f16 = [Float](repeating: 0, count: bits.count)
      var bf16 = [Float](repeating: 0, count: bits.count)
      // Bytes one past an even address: the sources of a mapped file need no alignment.
      let bytes = [UInt8](repeating: 0, count: 1) + bits.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
      bytes.withUnsafeBytes { raw in
        let s = raw.baseAddress! + 1
        // An odd count runs the tail path too.
        f16.withUnsafeMutableBufferPointer { kernels.float16ToFloat32(s, $0.baseAddress!, count: 65535) }
        bf16.withUnsafeMutableBufferPointer { kernels.bfloat16ToFloat32(s, $0.baseAddress!, count: 65535) }
      }
      var wrong = 0
      for b in 0..<65535 {
        let half = Float(Float16(bitPattern: UInt16(b)))
        let brain = Float(bitPattern: UInt32(b) << 16)
        if half.isNaN ? !f16[b].isNaN : f16[b].bitPattern != half.bitPattern { wrong += 1 }
        if brain.isNaN ? !bf16[b].isNaN : bf16[b].bitPattern != brain.bitPattern { wrong += 1 }
      }
      #expect(wrong == 0, "\(kernels.name): \(wrong) wrong conversions")
      #expect(f16[65535] == 0 && bf16[65535] == 0, "\(kernels.name) wrote past count")
    }
  }
}
