import GraftCore
import GraftDemo
import GraftEngine
import GraftFormats
import GraftSurgery
import TestSupport
import Testing

@Suite("Mr. DETR strip")
struct MrDETRStripTests {
  static let tiny: MrDETRConfig = {
    var c = MrDETRConfig()
    c.transformer.embedDim = 16
    c.transformer.encoderFFNDim = 32
    c.transformer.decoderFFNDim = 32
    c.transformer.heads = 2
    c.transformer.encoderPoints = 2
    c.transformer.decoderPoints = 2
    c.transformer.encoderLayers = 2
    c.transformer.decoderLayers = 3
    c.transformer.classes = 5
    c.transformer.queries = 7
    c.instructionTokens = 3
    c.backboneChannels = [8, 12, 16]
    return c
  }()

  @Test func fullSizeR50DeformableRemovesTheDocumentedParameterCount() throws {
    let model = try MrDETRSynthetic.stateDict(config: .r50, variant: .deformable, resNet50Backbone: true)
    let result = try MrDETRStrip.run(model)
    let r = result.report
    #expect(r.variant == .deformable && r.variantDetected)
    #expect(r.removedParameters == 6_492_244)
    #expect(r.removedBytes == 6_492_244 * 4)
    #expect(r.removed.count == 6 * 8 + 2 + 6)
    let byRoute = Dictionary(uniqueKeysWithValues: r.removedByRoute.map { ($0.route, $0.parameters) })
    #expect(byRoute[.route1IndependentFFN] == 6 * (526_336 + 524_544))
    #expect(byRoute[.route3InstructiveAttention] == 6 * (2 * 2_560 + 512))
    #expect(byRoute[.route3Proposals] == 20_560 + 132_612)
    // 7 class heads × 2 tensors + 7 box heads × 6 tensors, each shared with its decoder alias.
    #expect(r.aliasesKept.count == 56)
    #expect(result.table.aliases.count == 56)
    #expect(r.negativeCheckKeys == 12 && r.negativeCheckKeysKept == 12)
    #expect(r.keptByteIdentical == r.keptTensors)
    #expect(r.inputParameters - r.removedParameters == r.keptParameters)
    // The stripped names are exactly the key set without auxiliary keys: 0 missing, 0 unexpected.
    let expected = MrDETRKeySet(config: .r50, variant: .deformable, includeAuxiliary: false, resNet50Backbone: true)
    #expect(result.table.names == expected.keys.map(\.name))
    for k in expected.keys { #expect(result.table[k.name]?.shape == k.shape, "\(k.name)") }
    #expect(r.lines.contains { $0.contains("6,492,244 parameters") })
  }

  @Test func keyPatternsAreAnchoredOnComponents() {
    let m = MrDETRManifest(variant: .deformable)
    let l = "transformer.decoder.layers.3."
    #expect(m.classify(l + "attentions.0.norm_o2o.weight") == .keep(group: "decoder norm_o2o (primary post-SA norm)"))
    #expect(m.classify(l + "attentions.0.norm_o2m.bias") == .remove(.route3InstructiveAttention))
    #expect(m.classify(l + "ffns.0.layers.0.linear.linear_sep.weight") == .remove(.route1IndependentFFN))
    #expect(m.classify(l + "ffns.0.layers.0.linear.linear.weight") == .keep(group: "decoder FFN"))
    #expect(m.classify("label_enc.weight") == .unknown)
    #expect(MrDETRManifest(variant: .dino, dropLabelEncoder: true).classify("label_enc.weight") == .remove(.denoising))
    #expect(!MrDETRKeyPattern("a.#.b").matches("a.x.b"))
    #expect(MrDETRKeyPattern("a.**").matches("a.b.c") && !MrDETRKeyPattern("a.**").matches("a"))
  }

  @Test func dinoKeepsLabelEncoderUnlessAsked() throws {
    let model = try MrDETRSynthetic.stateDict(config: .r50, variant: .dino)
    let kept = try MrDETRStrip.run(model)
    #expect(kept.report.variant == .dino && kept.report.removedParameters == 6_492_244)
    #expect(kept.table.contains("label_enc.weight"))
    #expect(kept.report.notes.contains { $0.contains("dropLabelEncoder removes it") })
    var o = MrDETRStripOptions()
    o.dropLabelEncoder = true
    o.variant = .align
    let dropped = try MrDETRStrip.run(model, options: o)
    #expect(dropped.report.removedParameters == 6_512_724)
    #expect(!dropped.table.contains("label_enc.weight"))
    #expect(dropped.report.removedByRoute.contains { $0.route == .denoising && $0.parameters == 20_480 })
  }

  @Test func insegKeepsTheMaskHead() throws {
    let model = try MrDETRSynthetic.stateDict(config: Self.tiny, variant: .insseg)
    let result = try MrDETRStrip.run(model)
    #expect(result.report.variant == .insseg)
    #expect(result.table.names.contains { $0.hasPrefix("mask_head.") })
    #expect(result.table.names.contains { $0.hasPrefix("bbox_attention.") })
    var o = MrDETRStripOptions()
    o.variant = .deformable
    #expect(throws: GraftError.self) { try MrDETRStrip.run(model, options: o) }
  }

  @Test func trainingCheckpointKeepsModelOrEMA() throws {
    let ckpt = try MrDETRSynthetic.trainingCheckpoint(config: .r50, variant: .deformable, withEMA: true)
    let flat = try ckpt.flattened()
    let fromModel = try MrDETRStrip.run(flat)
    #expect(fromModel.report.source == "model")
    #expect(fromModel.report.containerEntriesDropped.contains { $0.hasPrefix("ema_state") })
    #expect(fromModel.report.aliasesRestored.isEmpty)

    var o = MrDETRStripOptions()
    o.useEMA = true
    let split = try DetectronTrainingCheckpoint(flattened: flat)
    #expect(split.otherEntries.isEmpty)  // flattened() keeps only model and ema_state
    let fromEMA = try MrDETRStrip.run(ckpt, options: o)
    #expect(fromEMA.report.source == "ema_state")
    #expect(fromEMA.report.aliasesRestored.count == 56)
    #expect(fromEMA.report.removedParameters == 6_492_244)
    #expect(fromEMA.table.aliases.count == 56)
    #expect(fromEMA.report.containerEntriesDropped.contains { $0.hasPrefix("trainer") })
    let name = "transformer.decoder.layers.0.attentions.0.norm_o2o.weight"
    let emaBytes = try #require(ckpt.emaState?[name]).readAllBytes()
    let modelBytes = try #require(ckpt.model[name]).readAllBytes()
    #expect(try #require(fromEMA.table[name]).readAllBytes() == emaBytes)
    #expect(emaBytes != modelBytes)
    #expect(Set(fromEMA.table.names) == Set(fromModel.table.names))

    let noEMA = try MrDETRSynthetic.trainingCheckpoint(config: Self.tiny, variant: .deformable)
    #expect(throws: GraftError.self) { try MrDETRStrip.run(noEMA, options: o) }
  }

  @Test func canonicalDetrexLayoutRenamesInTheSafeOrder() throws {
    let model = try MrDETRSynthetic.stateDict(config: .r50, variant: .deformable)
    var o = MrDETRStripOptions()
    o.layout = .detrex
    let result = try MrDETRStrip.run(model, options: o)
    let expected = MrDETRKeySet(config: .r50, variant: .deformable, includeAuxiliary: false, layout: .detrex)
    #expect(Set(result.table.names) == Set(expected.keys.map(\.name)))
    #expect(result.report.renamed.count == 6 * (2 + 2 + 2 + 2 + 2))
    let l = "transformer.decoder.layers.2."
    let pairs = [
      ("attentions.0.norm_o2o.weight", "norms.0.weight"), ("norms.0.bias", "norms.1.bias"),
      ("norms.1.weight", "norms.2.weight"), ("ffns.0.layers.0.linear.linear.weight", "ffns.0.layers.0.0.weight"),
      ("ffns.0.layers.1.linear.bias", "ffns.0.layers.1.bias"),
    ]
    for (from, to) in pairs {
      #expect(try result.table[l + to]?.readAllBytes() == model[l + from]?.readAllBytes(), "\(from) → \(to)")
    }
    #expect(result.report.negativeCheckKeysKept == 12)
    // Stripping the canonical output again is refused with a clear message.
    #expect {
      try MrDETRStrip.run(result.table)
    } throws: { ($0 as? GraftError)?.message.contains("stock detrex layout") ?? false }
  }

  @Test func refusesNonMrDETRAndAlreadyStrippedCheckpoints() throws {
    var other = TensorTable()
    try other.append("encoder.weight", Tensor(float32: [1, 2], shape: [2]))
    #expect {
      try MrDETRStrip.run(other)
    } throws: { ($0 as? GraftError)?.message.contains("not a Mr. DETR checkpoint") ?? false }
    let stripped = try MrDETRStrip.run(try MrDETRSynthetic.stateDict(config: Self.tiny, variant: .deformable)).table
    #expect {
      try MrDETRStrip.run(stripped)
    } throws: { ($0 as? GraftError)?.message.contains("already stripped") ?? false }
  }

  @Test func unknownTensorsAreRefusedOrKeptOnRequest() throws {
    var model = try MrDETRSynthetic.stateDict(config: Self.tiny, variant: .deformable)
    try model.append("transformer.decoder.mystery.weight", Tensor(float32: [0], shape: [1]))
    #expect {
      try MrDETRStrip.run(model)
    } throws: { ($0 as? GraftError)?.tensor == "transformer.decoder.mystery.weight" }
    var o = MrDETRStripOptions()
    o.keepUnknown = true
    let r = try MrDETRStrip.run(model, options: o)
    #expect(r.report.unknownKept == ["transformer.decoder.mystery.weight"])
    #expect(r.table.contains("transformer.decoder.mystery.weight"))
  }

  @Test func keptTensorsHashIdenticalAndAliasesSurviveGraftFiles() throws {
    let model = try MrDETRSynthetic.stateDict(config: Self.tiny, variant: .deformable)
    let result = try MrDETRStrip.run(model)
    for e in result.table.entries {
      let a = try e.tensor.readAllBytes()
      let b = try #require(model[e.name]).readAllBytes()
      #expect(XXHash64.hash(a) == XXHash64.hash(b), "\(e.name)")
    }
    let folder = try TestPaths.scratchFolder("mrdetr")
    let path = folder + "/stripped.graft"
    try GraftFile.write(result.table, to: path)
    let back = try GraftFile.read(path: path)
    #expect(back.names == result.table.names)
    #expect(back.aliases.count == result.table.aliases.count)
    #expect(back.parameterCount == result.table.parameterCount)
    for e in back.entries {
      #expect(try e.tensor.readAllBytes() == result.table[e.name]?.readAllBytes(), "\(e.name)")
    }
  }
}
