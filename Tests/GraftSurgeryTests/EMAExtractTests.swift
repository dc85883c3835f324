import GraftCore
import GraftFormats
import GraftSurgery
import TestSupport
import Testing

@Suite("EMA extraction")
struct EMAExtractTests {
  /// The fixture's state-dict candidates as sections, read by their exact paths.
  static func checkpoint(_ name: String) throws -> TrainingCheckpoint {
    let path = TestPaths.fixture(name.contains("/") ? name : "deploy/" + name)
    return TrainingCheckpoint(parts: try PyTorchCheckpoint.open(path: path).stateDictTables())
  }

  @Test(
    "the EMA is found in each trainer's layout and kept byte for byte",
    arguments: [
      ("ema-timm.pth", "state_dict_ema"), ("ema-lightning.ckpt", "callbacks.EMACallback.ema_state_dict"),
      ("ema-mmengine.pth", "state_dict"), ("pytorch/detectron2.pth", "ema_state"),
    ])
  func layouts(file: String, source: String) throws {
    let ckpt = try Self.checkpoint(file)
    let (table, report) = try EMAExtract.extract(ckpt)
    #expect(report.source.path == source)
    let kept = try #require(ckpt.section(source)?.table)
    #expect(table.names == kept.names)
    for name in kept.names { #expect(try table[name]?.contentHash() == kept[name]?.contentHash()) }
    #expect(report.dropped.contains { $0.role == .trainingState && $0.bytes > 0 })
    #expect(!report.droppedScalars.isEmpty || file == "ema-mmengine.pth")
  }

  @Test("two EMA candidates, or none, are refused naming the source option")
  func ambiguous() throws {
    for file in ["ema-two.pth", "ema-deepspeed.pt"] {
      let error = #expect(throws: GraftError.self) { try EMAExtract.extract(try Self.checkpoint(file)) }
      #expect(error?.option == "source", "\(file)")
    }
    var o = EMAExtract.Options()
    o.source = "module"
    let (table, report) = try EMAExtract.extract(try Self.checkpoint("ema-deepspeed.pt"), options: o)
    #expect(report.source.role == .model && table.count == 9)
  }

  @Test("mmengine's swapped raw copy is recognised; prefixes strip on request")
  func mmengine() throws {
    let all = EMAExtract.candidates(try Self.checkpoint("ema-mmengine.pth"))
    #expect(all.first { $0.path == "ema_state_dict" }?.role == .model)
    var o = EMAExtract.Options()
    o.source = "ema_state_dict"
    o.stripPrefixes = ["module."]
    let (table, _) = try EMAExtract.extract(try Self.checkpoint("ema-mmengine.pth"), options: o)
    #expect(table.contains("fc.weight") && table.contains("steps"))
  }

  @Test(
    "names split into words for the EMA test",
    arguments: [
      ("EMACallback", true), ("state_dict_ema", true), ("model_ema", true), ("schema", false), ("emaState", true),
    ])
  func tokens(name: String, isEMA: Bool) {
    #expect(EMAExtract.tokens(name).contains("ema") == isEMA)
  }
}
