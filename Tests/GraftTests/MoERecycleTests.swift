import Graft
import GraftCheck
import GraftCore
import GraftDemo
import GraftEngine
import GraftSurgery
import TestSupport
import Testing

@Suite("MoE recycling")
struct MoERecycleTests {
  let dense = MoEDemo.sampleCheckpoint()

  func statistics(_ table: TensorTable, blocks: [Int], coactivation: Bool = false) throws -> [Int: MoELayerStatistics] {
    let images = try MoEStatisticsCollection.syntheticImages(dense: table, count: 2, seed: 3)
    return try MoEStatisticsCollection.collect(
      dense: table, images: images, blocks: blocks, coactivation: coactivation)
  }

  @Test("every strategy gives valid index sets and passes the checks", arguments: MoERecycleStrategy.allCases)
  func strategies(strategy: MoERecycleStrategy) throws {
    var o = MoERecycle.Options()
    o.experts = 4
    o.ratio = 0.25
    o.strategy = strategy
    o.communities = 4
    o.statistics = try statistics(dense, blocks: [1], coactivation: strategy == .coactivation)
    let (moe, manifest) = try MoERecycle.recycle(dense, options: o)
    #expect(moe["blocks.1.mlp.experts.0p25.fc1.weight"]?.shape == [4, 8, 16])
    #expect(moe["blocks.1.mlp.experts.0p25.fc2.weight"]?.shape == [4, 16, 8])
    #expect(moe["blocks.1.mlp.experts.0p25.fc2.bias"]?.shape == [4, 16])
    #expect(moe.contains("blocks.0.mlp.fc1.weight") && !moe.contains("blocks.1.mlp.fc1.weight"))
    for set in manifest.layers[0].expertUnits {
      #expect(set.count == 8 && set == Array(Set(set)).sorted())
    }
    if strategy == .uniform {
      #expect(manifest.layers[0].expertUnits[0] == [0, 4, 9, 13, 18, 22, 27, 31])
      #expect(Set(manifest.layers[0].expertUnits.map { $0 }).count == 1)
    }
    let report = try MoECheck.verify(dense: dense, moe: moe, manifest: manifest)
    #expect(report.passed, "\(report.lines.joined(separator: "\n"))")
    let (again, _) = try MoERecycle.recycle(dense, options: o)
    #expect(try again.contentDigest() == moe.contentDigest())
  }

  @Test("importance sampling favours high scores; global top-k is deterministic")
  func importanceSampling() throws {
    var counts = [Int](repeating: 0, count: 8)
    let scores: [Double] = [1, 2, 4, 8, 16, 32, 64, 128]
    for seed in 0..<400 {
      var r = SplitMix64(seed: UInt64(seed))
      for i in r.weightedSample(scores, count: 2) { counts[i] += 1 }
    }
    #expect(counts[7] > counts[4] && counts[4] > counts[1])
    var o = MoERecycle.Options()
    o.experts = 3
    o.strategy = .weightProduct
    o.globalTopK = true
    let (_, manifest) = try MoERecycle.recycle(dense, options: o)
    #expect(Set(manifest.layers[0].expertUnits).count == 1)
  }

  @Test("a disjoint cover in the Jetpack layout sums back to the dense MLP with the b2 correction")
  func jetpackCover() throws {
    var o = MoEUpcycle.Options()
    o.method = .partition
    o.experts = 4
    o.layout = .jetpack
    let (moe, manifest) = try MoEUpcycle.upcycle(dense, options: o)
    #expect(moe.contains("blocks.0.mlp.experts.0p25.fc1.weight"))
    let report = try MoECheck.verify(dense: dense, moe: moe, manifest: manifest)
    #expect(report.passed, "\(report.lines.joined(separator: "\n"))")
    #expect(report.rows.contains { $0.name == "block.0 cover" && ($0.number("value") ?? .nan) <= 1e-5 })
  }

  @Test("dual-path layout: SpheroMoE keys, universal sub-selection inside core-size sets, engine runs it")
  func dualPath() throws {
    var o = MoERecycle.Options()
    o.layout = .dualPath
    o.coreExperts = 2
    o.universalExperts = 4
    o.ratio = 1
    o.layers = .list([0, 1])
    let (moe, manifest) = try MoERecycle.recycle(dense, options: o)
    #expect(moe["blocks.0.mlp.phi"]?.shape == [6, 1, 16])
    #expect(moe["blocks.0.mlp.core_experts.vit_fc1.weight"]?.shape == [2, 32, 16])
    #expect(moe["blocks.0.mlp.univ_experts.vit_fc1.weight"]?.shape == [4, 8, 16])
    #expect(moe["blocks.0.mlp.scales.0"]?.shape == [])
    let phi = try floatValues(try #require(moe["blocks.1.mlp.phi"]))
    for a in 0..<6 {
      for b in 0..<6 {
        let dot = (0..<16).reduce(Float(0)) { $0 + phi[a * 16 + $1] * phi[b * 16 + $1] }
        #expect(abs(dot - (a == b ? 1 : 0)) < 1e-5)
      }
    }
    #expect(manifest.layers[0].expertUnits[2] == [0, 4, 9, 13, 18, 22, 27, 31])
    let report = try MoECheck.verify(dense: dense, moe: moe, manifest: manifest)
    #expect(report.passed, "\(report.lines.joined(separator: "\n"))")
    let sphero = try #require(report.rows.first { $0.name.hasPrefix("model (SpheroMoE") })
    let distance = sphero.number("value") ?? .nan
    #expect(distance.isFinite && distance > 0)
  }

  @Test("teacher width: experts sample teacher hidden units and channels; the rest is the student's")
  func teacherWidth() throws {
    let teacher = MoEDemo.sampleCheckpoint(width: 32, hidden: 64, seed: 99)
    var o = MoERecycle.Options()
    o.experts = 3
    o.strategy = .importanceL2
    o.statistics = try statistics(teacher, blocks: [1])
    let (moe, manifest) = try MoERecycle.recycle(dense, teacher: teacher, options: o)
    #expect(moe["blocks.1.mlp.experts.0p50.fc1.weight"]?.shape == [3, 32, 16])
    #expect(manifest.layers[0].expertChannels?.first?.count == 16)
    let report = try MoECheck.verify(dense: dense, moe: moe, manifest: manifest, teacher: teacher)
    #expect(report.passed, "\(report.lines.joined(separator: "\n"))")
    #expect(report.rows.contains { $0.name == "slicing" && $0.passed })
    #expect(report.rows.contains { $0.name == "non-expert bytes" && $0.passed })
  }

  @Test("expert tensors are produced on demand; the slicing check finds one flipped bit in one expert")
  func lazyExpertsAndTamperedSlice() throws {
    var o = MoERecycle.Options()
    o.experts = 4
    o.layers = .list([1])
    let (moe, manifest) = try MoERecycle.recycle(dense, options: o)
    let name = "blocks.1.mlp.experts.0p25.fc2.weight"
    let experts = try #require(moe[name])
    // Nothing of the experts' size is held: the stack is gathered from the dense fc2 when read.
    #expect(experts.bytes.contiguousBytes == nil)
    var bytes = try experts.readAllBytes()
    bytes[2 * bytes.count / 4 + 5 * 4] ^= 1
    var tampered = moe
    try tampered.replace(name, with: Tensor(dtype: experts.dtype, shape: experts.shape, copying: bytes))
    let head = "head.weight"
    var changed = try #require(dense[head]).readAllBytes()
    changed[0] ^= 1
    try tampered.replace(head, with: Tensor(dtype: .float32, shape: try #require(dense[head]).shape, copying: changed))
    let report = try MoECheck.verify(dense: dense, moe: tampered, manifest: manifest)
    let slicing = try #require(report.rows.first { $0.name == "slicing" })
    #expect(!slicing.passed && (slicing.note ?? "").contains(name + "[2]"), "\(slicing.note ?? "")")
    let other = try #require(report.rows.first { $0.name == "non-expert bytes" })
    #expect(!other.passed && (other.note ?? "").contains(head), "\(other.note ?? "")")
    let clean = try MoECheck.verify(dense: dense, moe: moe, manifest: manifest)
    #expect(clean.passed, "\(clean.lines.joined(separator: "\n"))")
  }

  @Test("generic layout from recycling runs in the engine from metadata alone")
  func genericRecycled() throws {
    var o = MoERecycle.Options()
    o.layout = .generic
    o.experts = 4
    o.topK = 2
    o.ratio = 0.5
    let (moe, manifest) = try MoERecycle.recycle(dense, options: o)
    #expect(moe["blocks.1.mlp.experts.3.fc1.weight"]?.shape == [16, 16])
    let report = try MoECheck.verify(dense: dense, moe: moe, manifest: manifest)
    #expect(report.rows.contains { $0.name == "key set" && $0.passed })
    let vit = try VisionTransformer(moe, options: .init(feedForwardBuilders: MoEBuilders.all()))
    let out = try vit.forward(ModelCheck.randomInput(shape: [1, 3, 16, 16], seed: 0))
    let finite = out.output.values.allSatisfy { $0.isFinite }
    #expect(finite)
  }

  @Test("bad recycling configurations")
  func bad() throws {
    var o = MoERecycle.Options()
    o.ratio = 1.5
    #expect(throws: GraftError.self) { try MoERecycle.recycle(dense, options: o) }
    o.ratio = 0.25
    o.experts = 40
    #expect(throws: GraftError.self) { try MoERecycle.recycle(dense, options: o) }
    o.experts = 4
    o.strategy = .importanceL1
    let e = #expect(throws: GraftError.self) { try MoERecycle.recycle(dense, options: o) }
    #expect(e?.message.contains("statistics") == true)
  }

  @Test("entmax-1.5 matches the closed form and sums to one")
  func entmax() {
    let y = Entmax15.apply([0.5, 0.1, -3, 0.2])
    #expect(abs(y.reduce(0, +) - 1) < 1e-6)
    #expect(y[2] == 0)
    #expect(y[0] > y[3] && y[3] > y[1])
  }
}
