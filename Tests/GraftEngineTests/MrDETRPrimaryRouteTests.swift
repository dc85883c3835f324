import GraftCore
import GraftEngine
import GraftFormats
import TestSupport
import Testing

/// The primary route against `scripts/fixtures/mrdetr.py` (PyTorch, grid_sample deformable attention).
@Suite("Mr.DETR primary route vs PyTorch")
struct MrDETRPrimaryRouteTests {
  static func load() throws -> (model: TensorTable, io: TensorTable) {
    let model = try SafeTensors.read(path: TestPaths.fixture("mrdetr/tiny_model.safetensors"))
    let io = try SafeTensors.read(path: TestPaths.fixture("mrdetr/tiny_io.safetensors"))
    return (model, io)
  }

  static func features(_ io: TensorTable) throws -> [FloatTensor] {
    try (0..<4).map { l in
      let t = try #require(io["features_\(l)"])
      return try FloatTensor(shape: t.shape, values: floatValues(t))
    }
  }

  static func ints(_ t: Tensor?) throws -> [Int] {
    let t = try #require(t)
    return try t.withUnsafeBytes { raw in
      (0..<(raw.count / 8)).map { Int(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self))) }
    }
  }

  @Test func matchesPyTorchBeforeEveryTopKAndAfterPostProcessing() throws {
    let (table, io) = try Self.load()
    let config = try DeformableDETRConfig.infer(from: table, heads: 4, detections: 50)
    #expect(config.embedDim == 32 && config.levels == 4 && config.encoderPoints == 2 && config.decoderLayers == 6)
    let model = try DeformableDETR(table, config: config, strict: false)
    // The unstripped fixture matches the manifest apart from the auxiliary routes.
    #expect(model.manifestCheck.missing.isEmpty)
    #expect(model.manifestCheck.unexpected.count == 6 * 8 + 2 + 6)
    #expect(model.manifestCheck.unexpected.allSatisfy { $0.contains("o2m") || $0.contains("linear_sep") })
    let out = try model.forward(features: Self.features(io))

    let memory = allClose(out.memory.values, try floatValues(#require(io["memory"])), rtol: 1e-4, atol: 1e-5)
    #expect(memory.passed, "memory: \(memory)")
    let scores = allClose(out.proposalScores, try floatValues(#require(io["proposal_scores"])), rtol: 0, atol: 1e-4)
    #expect(scores.passed, "proposal scores: \(scores)")
    let expectedBoxes = try floatValues(#require(io["proposal_boxes"]))
    #expect(out.proposalBoxes.map(\.isInfinite) == expectedBoxes.map(\.isInfinite))
    #expect(out.proposalBoxes.filter(\.isInfinite).allSatisfy { $0 > 0 })
    let finite = allClose(
      out.proposalBoxes.filter(\.isFinite), expectedBoxes.filter(\.isFinite), rtol: 0, atol: 1e-4)
    #expect(finite.passed, "proposal boxes: \(finite)")

    // The invalid proposals tie (zeroed memory), so compare the chosen set with every invalid token as one class.
    let invalid = try Self.ints(io["invalid"])
    let expectedSelected = try Self.ints(io["selected"])
    func canonical(_ s: [Int]) -> [Int] { s.map { invalid[$0] == 1 ? -1 : $0 }.sorted() }
    #expect(canonical(out.selectedTokens) == canonical(expectedSelected))
    #expect(out.selectedTokens.contains { invalid[$0] == 1 })

    let refs = allClose(out.initialReferences, try floatValues(#require(io["initial_references"])), rtol: 0, atol: 1e-5)
    #expect(refs.passed, "initial references: \(refs)")
    for l in 0..<6 {
      let logits = allClose(out.layerLogits[l], try floatValues(#require(io["layer_logits_\(l)"])), rtol: 0, atol: 1e-3)
      #expect(logits.passed, "layer \(l) logits: \(logits)")
      let boxes = allClose(out.layerBoxes[l], try floatValues(#require(io["layer_boxes_\(l)"])), rtol: 0, atol: 1e-4)
      #expect(boxes.passed, "layer \(l) boxes: \(boxes)")
    }
    let fused = allClose(out.fusedLogits, try floatValues(#require(io["fused_logits"])), rtol: 0, atol: 1e-3)
    #expect(fused.passed, "fused logits: \(fused)")
    let boxes = allClose(out.boxes, try floatValues(#require(io["boxes"])), rtol: 0, atol: 1e-4)
    #expect(boxes.passed, "boxes: \(boxes)")

    let detScores = allClose(
      out.detections.map(\.score), try floatValues(#require(io["det_scores"])), rtol: 0, atol: 1e-4)
    #expect(detScores.passed, "detection scores: \(detScores)")
    let labels = try Self.ints(io["det_labels"])
    let queries = try Self.ints(io["det_queries"])
    let detBoxes = try floatValues(#require(io["det_boxes"]))
    #expect(out.detections.count == 50)
    var sameIndex = 0
    for (i, d) in out.detections.enumerated() where d.label == labels[i] && d.query == queries[i] {
      sameIndex += 1
      let b = allClose(d.box, Array(detBoxes[(i * 4)..<(i * 4 + 4)]), rtol: 0, atol: 1e-4)
      #expect(b.passed, "detection \(i): \(b)")
    }
    // Near-ties may swap neighbours; nearly all detections must agree by index.
    #expect(sameIndex >= 48)
    print(
      "Mr.DETR vs PyTorch: memory max|Δ| \(memory.maxAbs) (rel \(memory.maxRel)), proposal scores \(scores.maxAbs), "
        + "fused logits \(fused.maxAbs), boxes \(boxes.maxAbs), detection scores \(detScores.maxAbs), "
        + "\(sameIndex)/50 detections identical by index")
  }

  @Test func strictLoadRefusesAuxiliaryKeysAndNamesMissingOnes() throws {
    let (table, _) = try Self.load()
    let config = try DeformableDETRConfig.infer(from: table, heads: 4)
    #expect {
      try DeformableDETR(table, config: config)
    } throws: { ($0 as? GraftError)?.message.contains("unexpected tensor") ?? false }
    var broken = table
    broken.removeAll { $0.name == "transformer.decoder.layers.2.attentions.0.norm_o2o.weight" }
    #expect {
      try DeformableDETR(broken, config: config, strict: false)
    } throws: { ($0 as? GraftError)?.tensor == "transformer.decoder.layers.2.attentions.0.norm_o2o.weight" }
  }
}
