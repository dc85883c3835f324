import GraftCore
import GraftFormats
import GraftSurgery
import TestSupport
import Testing

/// Re-parameterisation against timm 1.0.31's `reparameterize_model`, torch's `fuse_conv_bn_eval` and ACNet's fold.
///
/// Tolerance: 1e-6 · max|reference| per tensor. The references fold in float32 (`K·(γ/√(σ²+ε))`, three roundings);
/// Graft folds in float64 and rounds once (measured ≤ 1.2e-7 relative).
@Suite("Re-parameterisation")
struct ReparamTests {
  static func read(_ name: String) throws -> TensorTable {
    try SafeTensors.read(path: TestPaths.fixture("deploy/" + name))
  }

  static func expectMatches(_ out: TensorTable, _ reference: String) throws {
    let ref = try read(reference)
    #expect(Set(out.names) == Set(ref.names))
    for name in ref.names {
      let a = try DeployTensors.doubles(out, name)
      let b = try DeployTensors.doubles(ref, name)
      let scale = b.map(abs).max() ?? 0
      let worst = zip(a, b).map { abs($0 - $1) }.max() ?? .infinity
      #expect(a.count == b.count && worst <= 1e-6 * max(scale, 1e-30), "\(name): \(worst) vs \(scale)")
    }
  }

  @Test("timm byobnet RepVGG (stem, grouped and identity blocks) equals reparameterize_model")
  func repvggTimm() throws {
    let (out, report) = try Reparam.reparameterize(try Self.read("repvgg.safetensors"))
    try Self.expectMatches(out, "repvgg-reparam.safetensors")
    #expect(report.blocks.count == 5 && report.blocks.allSatisfy { $0.kind == .repvggTimm })
    #expect(report.blocks.first { $0.prefix == "stages.1.1" }?.groups == 4)
    #expect(report.blocks.first { $0.prefix == "stem" }?.groups == nil)
    #expect(report.epsilon == 1e-5 && report.epsilonSource.hasPrefix("assumed"))
  }

  @Test("the original RepVGG naming (rbr_dense, rbr_1x1, rbr_identity) gives rbr_reparam")
  func repvggOriginal() throws {
    let (out, _) = try Reparam.reparameterize(try Self.read("repvgg-original.safetensors"))
    try Self.expectMatches(out, "repvgg-original-reparam.safetensors")
  }

  @Test("Conv + BN pairs by three naming rules equal fuse_conv_bn_eval; a BN with no conv is kept")
  func convBN() throws {
    let table = try Self.read("convbn.safetensors")
    let error = #expect(throws: GraftError.self) { try Reparam.reparameterize(table) }
    #expect(error?.option == "foldBatchNorm")
    var o = Reparam.Options()
    o.foldBatchNorm = true
    let (out, report) = try Reparam.reparameterize(table, options: o)
    try Self.expectMatches(out, "convbn-fused.safetensors")
    #expect(report.keptBatchNorms == ["norm"])
    #expect(Set(report.blocks.map(\.prefix)) == ["conv1", "layer.0", "proj.conv"])
  }

  @Test("ACNet's ACB (square + vertical + horizontal) equals its switch_to_deploy kernel")
  func acb() throws {
    let (out, report) = try Reparam.reparameterize(try Self.read("acb.safetensors"))
    try Self.expectMatches(out, "acb-fused.safetensors")
    #expect(report.blocks.first?.kind == .acb)
  }

  @Test("ε from the option is used and reported; a different ε changes the fold")
  func epsilon() throws {
    var o = Reparam.Options()
    o.epsilon = 1e-1
    let (out, report) = try Reparam.reparameterize(try Self.read("acb.safetensors"), options: o)
    #expect(report.epsilonSource == "option")
    let a = try DeployTensors.doubles(out, "fused_conv.weight")
    let b = try DeployTensors.doubles(try Self.read("acb-fused.safetensors"), "fused_conv.weight")
    #expect(zip(a, b).map { abs($0 - $1) }.max() ?? 0 > 1e-3)
  }

  @Test("a BN whose channels differ from its conv's outputs is an error naming the conv")
  func channelMismatch() throws {
    var t = TensorTable()
    try t.append("x.conv_kxk.conv.weight", Tensor(float32: Array(repeating: 1, count: 2 * 2 * 9), shape: [2, 2, 3, 3]))
    for s in ["weight", "bias", "running_mean", "running_var"] {
      try t.append("x.conv_kxk.bn." + s, Tensor(float32: [1, 1, 1], shape: [3]))
    }
    let error = #expect(throws: GraftError.self) { try Reparam.reparameterize(t) }
    #expect(error?.tensor == "x.conv_kxk.conv.weight")
  }
}
