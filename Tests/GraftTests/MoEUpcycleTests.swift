import Graft
import GraftCheck
import GraftCore
import GraftDemo
import GraftEngine
import GraftSurgery
import TestSupport
import Testing

@Suite("MoE upcycling")
struct MoEUpcycleTests {
  let dense = MoEDemo.sampleCheckpoint()

  @Test("copies + renormalised top-k reproduce the dense model for every k")
  func copiesExact() throws {
    var o = MoEUpcycle.Options()
    o.experts = 3
    o.topK = 2
    o.router = .normal(0.5)
    let (moe, manifest) = try MoEUpcycle.upcycle(dense, options: o)
    #expect(moe.contains("blocks.0.mlp.router.weight"))
    #expect(moe["blocks.1.mlp.experts.2.fc1.weight"]?.shape == [32, 16])
    #expect(!moe.contains("blocks.0.mlp.fc1.weight"))
    let report = try MoECheck.verify(dense: dense, moe: moe, manifest: manifest)
    #expect(report.passed, "\(report.lines.joined(separator: "\n"))")
    let copies = try #require(report.row("block.0 copies"))
    #expect(copies.text("kind") == "exact" && copies.outcome == .passed)
    #expect((copies.number("value") ?? .nan) <= 1e-5)
    let config = try #require(try MoEConfiguration(metadata: moe.metadata))
    #expect(config == MoEConfiguration(experts: 3, topK: 2, gate: .softmaxTopKRenormalized, layers: [0, 1]))
  }

  @Test("V-MoE gates give (Σg)·f, predicted and not dense")
  func vmoe() throws {
    var o = MoEUpcycle.Options()
    o.experts = 4
    o.topK = 1
    o.gate = .softmaxTopK
    o.router = .zero
    let (moe, manifest) = try MoEUpcycle.upcycle(dense, options: o)
    let report = try MoECheck.verify(dense: dense, moe: moe, manifest: manifest)
    #expect(report.passed, "\(report.lines.joined(separator: "\n"))")
    let row = try #require(report.rows.first { $0.name == "block.0 V-MoE gates" })
    #expect((row.number("value") ?? .nan) <= 1e-5)
    let modelRow = try #require(report.rows.first { $0.name == "model (softmax-topk)" })
    #expect((modelRow.number("value") ?? .nan) > 1e-3)
  }

  @Test("partitions are disjoint covers and exact with all experts on", arguments: MoEPartitionStrategy.allCases)
  func partition(strategy: MoEPartitionStrategy) throws {
    var o = MoEUpcycle.Options()
    o.experts = 4
    o.method = .partition
    o.partition = strategy
    o.sharedHidden = strategy == .importance ? 4 : 0
    o.router = .centroid
    o.layers = .list([1])
    let (moe, manifest) = try MoEUpcycle.upcycle(dense, options: o)
    #expect(manifest.layers.count == 1 && manifest.layers[0].isPartition)
    #expect(moe.contains("blocks.1.mlp.output_bias"))
    #expect(moe.contains("blocks.0.mlp.fc1.weight"))
    let report = try MoECheck.verify(dense: dense, moe: moe, manifest: manifest)
    #expect(report.passed, "\(report.lines.joined(separator: "\n"))")
    #expect(report.rows.contains { $0.name == "block.1 partition" && ($0.number("value") ?? .nan) <= 1e-5 })
  }

  @Test("the same seed gives the same bytes; another seed does not")
  func determinism() throws {
    var o = MoEUpcycle.Options()
    o.method = .partition
    o.experts = 4
    o.router = .orthogonal
    o.seed = 5
    let (a, _) = try MoEUpcycle.upcycle(dense, options: o)
    let (b, _) = try MoEUpcycle.upcycle(dense, options: o)
    o.seed = 6
    let (c, _) = try MoEUpcycle.upcycle(dense, options: o)
    #expect(try a.contentDigest() == b.contentDigest())
    #expect(try a.contentDigest() != c.contentDigest())
  }

  @Test("bad configurations are refused with a clear error")
  func badConfigurations() throws {
    var o = MoEUpcycle.Options()
    o.method = .partition
    o.experts = 33
    #expect(throws: GraftError.self) { try MoEUpcycle.upcycle(dense, options: o) }
    o.experts = 4
    o.layers = .list([7])
    let error = #expect(throws: GraftError.self) { try MoEUpcycle.upcycle(dense, options: o) }
    #expect(error?.message.contains("out of range") == true)
    o.layers = .all
    o.topK = 5
    #expect(throws: GraftError.self) { try MoEUpcycle.upcycle(dense, options: o) }
    o.topK = 2
    let (moe, _) = try MoEUpcycle.upcycle(dense, options: o)
    let already = #expect(throws: GraftError.self) { try MoEUpcycle.upcycle(moe, options: o) }
    #expect(already?.message.contains("already a mixture of experts") == true)
    var notViT = TensorTable()
    try notViT.append("weight", Tensor(float32: [1, 2], shape: [2]))
    #expect(throws: GraftError.self) { try MoEUpcycle.upcycle(notViT, options: o) }
  }

  @Test("layer selections")
  func layerSelection() throws {
    #expect(try MoELayerSelection(parsing: "last-half").resolve(depth: 12) == Array(6...11))
    #expect(try MoELayerSelection(parsing: "every-2+1").resolve(depth: 6) == [1, 3, 5])
    #expect(try MoELayerSelection(parsing: "0,2-4").resolve(depth: 6) == [0, 2, 3, 4])
    #expect(throws: GraftError.self) { try MoELayerSelection(parsing: "3-1") }
    #expect(try MoELayerSelection(parsing: "4,0-2,1").description == "4,0-2,1")
  }

  @Test("a huge range is refused against the depth without being expanded; every-0 is an error, not a trap")
  func layerSelectionBounds() throws {
    // Expanded at parse time, this range was ten billion indices (80 GB) before the depth check.
    let huge = try MoELayerSelection(parsing: "0-9999999999")
    #expect(huge.description == "0-9999999999")
    let error = expectGraftError { _ = try huge.resolve(depth: 12) }
    #expect(error?.code == .invalidArgument)
    #expect(error?.message == "layer index 9999999999 is out of range: the model has 12 blocks (0...11)")
    let every0 = expectGraftError { _ = try MoELayerSelection.every(0, offset: 0).resolve(depth: 12) }
    #expect(every0?.message == "every-N needs N ≥ 1, not 0")
    let negative = expectGraftError { _ = try MoELayerSelection.every(2, offset: -1).resolve(depth: 12) }
    #expect(negative?.message == "every-N+OFFSET needs OFFSET ≥ 0, not -1")
  }

  @Test("the demo passes")
  func demo() throws {
    let (passed, lines) = try MoEDemo.run(workFolder: "")
    #expect(passed, "\(lines.joined(separator: "\n"))")
    #expect(lines.count > 10)
    if MoETestEnvironment.printDemo { print(lines.joined(separator: "\n")) }
  }
}

enum MoETestEnvironment {
  /// `GRAFT_MOE_PRINT=1` prints the demo's verification tables.
  static var printDemo: Bool { FileSystem.environment("GRAFT_MOE_PRINT") == "1" }
}
