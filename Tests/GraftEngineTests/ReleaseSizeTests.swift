import GraftCore
import TestSupport
import Testing

@testable import GraftEngine

/// Whether the tests were compiled without optimisation, where full-size kernels would take minutes.
#if DEBUG
  let isDebugBuild = true
#else
  let isDebugBuild = false
#endif

@Suite("Full-size kernels (release builds: swift test -c release)", .enabled(if: !isDebugBuild))
struct ReleaseSizeTests {
  @Test(
    "SGEMM at ViT shapes, threaded, matches float64 on sampled rows",
    arguments: [(197, 2304, 768), (197, 768, 3072), (1576, 3072, 768)])
  func vitShapes(shape: (Int, Int, Int)) {
    let (m, n, k) = shape
    var rng = SplitMix64(seed: UInt64(m + n + k))
    let a = rng.floats(m * k)
    let b = rng.floats(k * n)
    var c = [Float](repeating: 0, count: m * n)
    a.withUnsafeBufferPointer { ap in
      b.withUnsafeBufferPointer { bp in
        c.withUnsafeMutableBufferPointer { cp in
          guard let pa = ap.baseAddress, let pb = bp.baseAddress, let pc = cp.baseAddress else { return }
          Matmul.multiplyAdd(m: m, n: n, k: k, a: pa, lda: k, b: pb, ldb: n, c: pc, ldc: n, threads: 2)
        }
      }
    }
    var worst = 0.0
    var scale = 0.0
    for i in stride(from: 0, to: m, by: 37) {
      for j in 0..<n {
        var acc = 0.0
        for p in 0..<k { acc += Double(a[i * k + p]) * Double(b[p * n + j]) }
        worst = max(worst, abs(Double(c[i * n + j]) - acc))
        scale = max(scale, abs(acc))
      }
    }
    print("[sgemm \(m)×\(n)×\(k)] max abs error \(worst), max|C| \(scale)")
    #expect(worst <= 1e-4 * scale)
  }

  @Test("a ViT-S/16-sized model runs and batch rows are independent")
  func vitSmallSize() throws {
    var table = GraftCore.TensorTable()
    var rng = SplitMix64(seed: 11)
    func add(_ name: String, _ shape: [Int], scale: Float = 0.05, fill: Float? = nil) throws {
      let count = shape.reduce(1, *)
      let values = fill.map { [Float](repeating: $0, count: count) } ?? rng.floats(count, scale: scale)
      try table.append(name, GraftCore.Tensor(float32: values, shape: shape))
    }
    let d = 384
    try add("cls_token", [1, 1, d])
    try add("pos_embed", [1, 197, d])
    try add("patch_embed.proj.weight", [d, 3, 16, 16])
    try add("patch_embed.proj.bias", [d])
    for i in 0..<2 {
      let p = "blocks.\(i)."
      try add(p + "norm1.weight", [d], fill: 1)
      try add(p + "norm1.bias", [d], fill: 0)
      try add(p + "attn.qkv.weight", [3 * d, d])
      try add(p + "attn.qkv.bias", [3 * d])
      try add(p + "attn.proj.weight", [d, d])
      try add(p + "attn.proj.bias", [d])
      try add(p + "norm2.weight", [d], fill: 1)
      try add(p + "norm2.bias", [d], fill: 0)
      try add(p + "mlp.fc1.weight", [4 * d, d])
      try add(p + "mlp.fc1.bias", [4 * d])
      try add(p + "mlp.fc2.weight", [d, 4 * d])
      try add(p + "mlp.fc2.bias", [d])
    }
    try add("norm.weight", [d], fill: 1)
    try add("norm.bias", [d], fill: 0)
    try add("head.weight", [1000, d])
    try add("head.bias", [1000])
    // timm's vit_small_patch16_224 arguments; the remaining values are timm's defaults.
    table.metadata["timm_args"] = #"{"patch_size": 16, "embed_dim": 384, "depth": 1, "num_heads": 6}"#
    let model = try VisionTransformer(table)
    #expect(model.configuration.heads.value == 6 && model.configuration.imageSize.value == [224, 224])
    let input = try FloatTensor(shape: [3, 3, 224, 224], values: rng.floats(3 * 3 * 224 * 224))
    let all = try model.forward(input).output
    let single = try model.forward(
      FloatTensor(shape: [1, 3, 224, 224], values: Array(input.values[(2 * 150_528)...]))
    ).output
    var e: Float = 0
    for j in 0..<1000 { e = max(e, abs(all.values[2000 + j] - single.values[j])) }
    #expect(all.shape == [3, 1000])
    #expect(e <= 1e-5 * max(all.maxMagnitude, 1), "batch vs single: \(e)")
  }
}
