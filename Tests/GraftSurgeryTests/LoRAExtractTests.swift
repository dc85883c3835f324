import GraftCore
import GraftFormats
import GraftSurgery
import TestSupport
import Testing

@Suite("LoRA extract and the SVD")
struct LoRAExtractTests {
  /// A row-major m×n matrix of rank `singular.count`: U·diag(σ)·Vᵀ with orthonormal U, V from seeded Gram–Schmidt.
  static func lowRank(rows m: Int, columns n: Int, singular: [Double], seed: UInt64) -> [Double] {
    var rng = SplitMix64(seed: seed)
    func orthonormal(_ count: Int, _ length: Int) -> [[Double]] {
      var out: [[Double]] = []
      while out.count < count {
        var v = (0..<length).map { _ in Double(rng.nextSignedUnitFloat()) }
        for u in out {
          let d = zip(u, v).map(*).reduce(0, +)
          v = zip(v, u).map { $0 - d * $1 }
        }
        let norm = v.map { $0 * $0 }.reduce(0, +).squareRoot()
        out.append(v.map { $0 / norm })
      }
      return out
    }
    let u = orthonormal(singular.count, m)
    let v = orthonormal(singular.count, n)
    var a = [Double](repeating: 0, count: m * n)
    for (k, s) in singular.enumerated() {
      for i in 0..<m { for j in 0..<n { a[i * n + j] += s * u[k][i] * v[k][j] } }
    }
    return a
  }

  @Test("the Jacobi eigendecomposition recovers a known spectrum")
  func eigen() throws {
    // A = Q·diag(5, 2, −1)·Qᵀ for a rotation Q.
    let c = 0.6
    let s = 0.8
    let q = [c, -s, 0, s, c, 0, 0, 0, 1]
    let d = [5.0, 2, -1]
    var a = [Double](repeating: 0, count: 9)
    for i in 0..<3 { for j in 0..<3 { for k in 0..<3 { a[i * 3 + j] += q[i * 3 + k] * d[k] * q[j * 3 + k] } } }
    let (values, vectors) = try SymmetricEigen.decompose(a, n: 3)
    for (x, y) in zip(values, d) { #expect(abs(x - y) < 1e-13) }
    // The first eigenvector is ±Q's first column.
    #expect(abs(abs(vectors[0] * c + vectors[3] * s) - 1) < 1e-12)
  }

  @Test(
    "truncated SVD: Gram path and subspace path recover singular values of a rank-3 matrix",
    arguments: [
      (40, 30), (30, 45), (400, 390),
    ])
  func svd(shape: (Int, Int)) throws {
    let sigma = [9.0, 4, 0.5]
    let a = Self.lowRank(rows: shape.0, columns: shape.1, singular: sigma, seed: 3)
    let r = try TruncatedSVD.compute(a, rows: shape.0, columns: shape.1, rank: 3)
    #expect(r.method == (min(shape.0, shape.1) <= TruncatedSVD.exactLimit ? .gram : .subspace(steps: 6, columns: 11)))
    for (x, y) in zip(r.singularValues, sigma) { #expect(abs(x - y) < 1e-9 * 9, "\(x) vs \(y)") }
    var worst = 0.0
    for i in 0..<shape.0 {
      for j in 0..<shape.1 {
        var v = 0.0
        for k in 0..<3 { v += r.u[i * 3 + k] * r.singularValues[k] * r.v[j * 3 + k] }
        worst = max(worst, abs(v - a[i * shape.1 + j]))
      }
    }
    #expect(worst < 1e-10)
  }

  @Test("extracting rank 4 from peft's merged ViT reproduces every LoRA'd Linear; the rest is reported")
  func extractViT() throws {
    let base = try SafeTensors.read(path: TestPaths.fixture("deploy/vit-base.safetensors"))
    let tuned = try SafeTensors.read(path: TestPaths.fixture("deploy/vit-merged.safetensors"))
    let (tensors, config, report) = try LoRA.extract(base: base, tuned: tuned, options: LoRA.ExtractOptions(rank: 4))
    let byModule = Dictionary(uniqueKeysWithValues: report.modules.map { ($0.module, $0) })
    for m in ["blocks.0.attn.qkv", "blocks.1.mlp.fc1", "blocks.1.mlp.fc2"] {
      #expect((byModule[m]?.relativeResidual ?? 1) < 1e-6, "\(m)")
    }
    // The head was replaced whole (modules_to_save): rank 4 of a 5×16 change is an approximation, reported.
    #expect((byModule["head"]?.relativeResidual ?? 0) > 1e-3)
    #expect(report.unrepresented.map(\.name).contains("patch_embed.proj.weight"))
    #expect(tensors.contains("base_model.model.blocks.0.attn.qkv.lora_A.weight"))
    #expect(config.r == 4 && config.alpha == 4)
    #expect(!report.inferred.isEmpty)
  }

  @Test("checkpoints with different key sets are refused naming the tensor")
  func keyMismatch() throws {
    let base = try SafeTensors.read(path: TestPaths.fixture("deploy/vit-base.safetensors"))
    var tuned = base
    tuned.removeAll { $0.name == "norm.bias" }
    let error = #expect(throws: GraftError.self) {
      try LoRA.extract(base: base, tuned: tuned, options: LoRA.ExtractOptions(rank: 2))
    }
    #expect(error?.tensor == "norm.bias")
  }
}
