import GraftCheck
import GraftCore
import GraftDemo
import GraftEngine
import GraftFormats
import GraftSurgery
import TestSupport
import Testing

@Suite("Mr.DETR strip verification")
struct MrDETRVerificationTests {
  @Test func pytorchFixtureStripsToIdenticalOutputs() throws {
    let full = try SafeTensors.read(path: TestPaths.fixture("mrdetr/tiny_model.safetensors"))
    for layout in MrDETRLayout.allCases {
      var o = MrDETRStripOptions()
      o.layout = layout
      let stripped = try MrDETRStrip.run(full, options: o)
      #expect(stripped.report.removedParameters == 31_884)  // printed by scripts/fixtures/mrdetr.py
      let io = try SafeTensors.read(path: TestPaths.fixture("mrdetr/tiny_io.safetensors"))
      let features = try (0..<4).map { l in
        let t = try #require(io["features_\(l)"])
        return try FloatTensor(shape: t.shape, values: floatValues(t))
      }
      let check = MrDETRCheck.verify(
        full: full, stripped: stripped.table, layout: layout, heads: 4, features: features)
      #expect(check.passed, "\(layout): \(check.lines)")
      #expect(check.row("engine max|Δ|")?.number("value") == 0)
      // The stripped model reproduces PyTorch's detections.
      let expected = try floatValues(#require(io["det_scores"]))
      let config = try DeformableDETRConfig.infer(from: stripped.table, heads: 4)
      let got = try DeformableDETR(stripped.table, config: config, strict: true).forward(features: features)
        .detections.map(\.score)
      #expect(allClose(Array(got.prefix(expected.count)), expected, rtol: 0, atol: 1e-4).passed)
    }
  }

  @Test func verificationCatchesAWrongStrip() throws {
    let full = try SafeTensors.read(path: TestPaths.fixture("mrdetr/tiny_model.safetensors"))
    var stripped = try MrDETRStrip.run(full).table
    // The naive `o2o|o2m` regex: dropping norm_o2o must fail the strict manifest.
    stripped.removeAll { $0.name.contains("norm_o2o") }
    let check = MrDETRCheck.verify(full: full, stripped: stripped, heads: 4)
    #expect(!check.passed)
    #expect(check.row("strict manifest")?.outcome == .failed)
    // A kept tensor changed by 0.01 breaks byte identity and the engine comparison (a one-ulp change of a bias can
    // vanish in the rounding of x̂·γ + β, so it proves nothing about the engine row).
    var tampered = try MrDETRStrip.run(full).table
    let name = "transformer.decoder.layers.5.attentions.0.norm_o2o.bias"
    var values = try floatValues(#require(tampered[name]))
    values[0] += 0.01
    try tampered.replace(name, with: Tensor(float32: values, shape: [values.count]))
    let bad = MrDETRCheck.verify(full: full, stripped: tampered, heads: 4)
    #expect(!bad.passed && (bad.row("engine max|Δ|")?.number("value") ?? 0) > 0)
  }

  @Test func demoPassesOnEMAAndCanonicalLayouts() throws {
    let folder = try TestPaths.scratchFolder("mrdetr-demo")
    let (passed, lines) = try MrDETRDemo.run(workFolder: folder)
    #expect(passed, "\(lines.joined(separator: "\n"))")
    #expect(lines.filter { $0.contains("engine max|Δ|") && $0.contains(" ok") }.count == 3)
    #expect(lines.contains { $0.contains("restored 56 head aliases") })
    #expect(FileSystem.exists(folder + "/mrdetr-strip-report.json"))
  }
}

@Suite("Mr.DETR detectron2 .pth round trip")
struct MrDETRPyTorchTests {
  @Test func trainingCheckpointStripsToAPthWithSharedHeads() throws {
    var o = PyTorchCheckpoint.ReadOptions()
    o.select = ""
    let whole = try PyTorchCheckpoint.read(path: TestPaths.fixture("mrdetr/tiny_train.pth"), options: o)
    #expect(DetectronTrainingCheckpoint.isContainer(whole))
    let checkpoint = try DetectronTrainingCheckpoint(flattened: whole)
    #expect(checkpoint.model.aliases.count == 56)  // torch.save kept one storage per head
    let result = try MrDETRStrip.run(checkpoint)
    #expect(result.report.source == "model" && result.report.removedParameters == 31_884)
    let folder = try TestPaths.scratchFolder("mrdetr-pth")
    var w = PyTorchCheckpoint.WriteOptions()
    w.nestUnder = "model"
    try PyTorchCheckpoint.write(result.table, to: folder + "/deploy.pth", options: w)
    o.select = "model"
    let back = try PyTorchCheckpoint.read(path: folder + "/deploy.pth", options: o)
    #expect(back.names.sorted() == result.table.names.sorted())
    #expect(back.aliases.count == 56)
    #expect(back.parameterCount == result.report.keptParameters)
    for e in back.storedEntries {
      #expect(try e.tensor.readAllBytes() == checkpoint.model[e.name]?.readAllBytes(), "\(e.name)")
    }
  }
}
