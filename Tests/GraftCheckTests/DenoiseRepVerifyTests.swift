import GraftCheck
import GraftCore
import GraftDemo
import GraftEngine
import GraftFormats
import GraftSurgery
import TestSupport
import Testing

@Suite("DenoiseRep verification with the engine")
struct DenoiseRepVerifyTests {
  static let fixture = TestPaths.fixture("denoiserep/reid-unfused.safetensors")
  static let io = TestPaths.fixture("denoiserep/reid-io.safetensors")
  /// The engine model of the ReID fixtures: the backbone under `base.`; the classifier after it is no part of the ViT,
  /// so it is accepted as unused (and listed) rather than refused.
  static var backbone: VisionTransformer.Options {
    var o = VisionTransformer.Options()
    o.ignoreUnused = true
    return o
  }

  func fuseOptions(_ mode: DenoiseRep.Mode, io: TensorTable, table: TensorTable) throws -> DenoiseRep.FuseOptions {
    var options = DenoiseRep.FuseOptions()
    options.mode = mode
    options.product = DenoiseRepKernels.product
    for layer in try DenoiseRep.findLayers(in: table) {
      options.noise[layer.prefix] = try DenoiseRepTables.doubles(try #require(io["z." + layer.prefix]))
    }
    return options
  }

  func floats(_ tensor: Tensor?) throws -> FloatTensor {
    let t = try #require(tensor)
    return try FloatTensor(shape: t.shape, values: try DenoiseRepTables.doubles(t).map { Float($0) })
  }

  @Test(
    "every layer and the whole ViT agree within the reference bounds in every mode", arguments: DenoiseRep.Mode.allCases
  )
  func verifiesFixture(mode: DenoiseRep.Mode) throws {
    let table = try SafeTensors.read(path: Self.fixture)
    let io = try SafeTensors.read(path: Self.io)
    let options = try fuseOptions(mode, io: io, table: table)
    let (fused, report) = try DenoiseRep.fuse(table, options: options)
    let check = try DenoiseRepCheck.verify(
      unfused: table, fused: fused, report: report, fuseOptions: options, model: Self.backbone)
    #expect(check.passed, "\(check.lines.joined(separator: "\n"))")
    #expect(check.rows.filter { $0.name.hasPrefix("layer ") }.count == 4)
    #expect(check.rows.contains { $0.name == "model output" })
    let worstLayer =
      check.rows.filter { $0.name.hasPrefix("layer ") }.map {
        ($0.number("max_abs") ?? 1) / max(1, $0.number("scale") ?? 0)
      }.max() ?? 1
    #expect(worstLayer <= 1e-5)
    #expect(check.lines.last?.hasPrefix("PASS") == true)
  }

  @Test(
    "explicit and fused engine models both reproduce PyTorch's explicit-denoising outputs",
    arguments: DenoiseRep.Mode.allCases)
  func matchesPyTorchEndToEnd(mode: DenoiseRep.Mode) throws {
    let table = try SafeTensors.read(path: Self.fixture)
    let io = try SafeTensors.read(path: Self.io)
    let options = try fuseOptions(mode, io: io, table: table)
    let (fused, report) = try DenoiseRep.fuse(table, options: options)
    let steps = try DenoiseRepCheck.steps(for: table, report: report, fuseOptions: options)
    let input = try floats(io["input"])
    let expected = try floats(io["output." + mode.rawValue])
    var explicit = Self.backbone
    explicit.feedForwardBuilders = [DenoiseRepMLPBuilder(steps: steps)]
    let explicitModel = try VisionTransformer(table, options: explicit)
    #expect(explicitModel.configuration.unusedTensors == ["classifier.weight"])
    let fusedModel = try VisionTransformer(fused, options: Self.backbone)
    let scale = max(1, Double(expected.maxMagnitude))
    for (label, model) in [("explicit", explicitModel), ("fused", fusedModel)] {
      let out = try model.forward(input, hiddenStates: false).output
      #expect(out.shape == expected.shape)
      let r = allClose(out.values, expected.values, rtol: 0, atol: 1e-4 * scale)
      #expect(r.passed, "\(mode) \(label): \(r)")
    }
    // The vanilla forward (no denoising) is measurably different: the fixture can tell a skipped fusion.
    let vanilla = try floats(io["output.vanilla"])
    let gap = zip(vanilla.values, expected.values).map { abs($0 - $1) }.max() ?? 0
    #expect(Double(gap) > 1e-4)
  }

  @Test("a mode mix-up fails the verification")
  func mixUpFails() throws {
    let table = try SafeTensors.read(path: Self.fixture)
    let io = try SafeTensors.read(path: Self.io)
    let exactOptions = try fuseOptions(.exact, io: io, table: table)
    let (_, exactReport) = try DenoiseRep.fuse(table, options: exactOptions)
    let (meanFused, _) = try DenoiseRep.fuse(table, options: try fuseOptions(.mean, io: io, table: table))
    let check = try DenoiseRepCheck.verify(
      unfused: table, fused: meanFused, report: exactReport, fuseOptions: exactOptions, model: Self.backbone)
    #expect(!check.passed)
    #expect(check.lines.last?.hasPrefix("FAIL") == true)
  }

  @Test("the stripped release runs bit for bit like the release with leftovers")
  func strippedForwardIsBitwiseEqual() throws {
    let released = try SafeTensors.read(path: TestPaths.fixture("denoiserep/released.safetensors"))
    let (clean, _) = try DenoiseRep.strip(released)
    // The released files carry no metadata: the generator's timm arguments are given (heads 2, token pooling, GELU,
    // eps 1e-6); the leftovers and the classifier are accepted as unused.
    var options = VisionTransformer.Options(heads: 2, globalPool: .token, normEps: 1e-6, activation: .gelu)
    options.ignoreUnused = true
    let a = try VisionTransformer(released, options: options)
    let b = try VisionTransformer(clean, options: options)
    let x = ModelCheck.randomInput(shape: [2, 3, 8, 8], seed: 5)
    let ya = try a.forward(x, hiddenStates: true)
    let yb = try b.forward(x, hiddenStates: true)
    #expect(ya.output.values.map(\.bitPattern) == yb.output.values.map(\.bitPattern))
    #expect(ya.hiddenStates == yb.hiddenStates)
  }

  @Test("the engine's blocked product matches a float64 product to float32-sum accuracy")
  func productKernel() {
    var rng = SplitMix64(seed: 4)
    let (m, k, n) = (5, 600, 7)
    let a = rng.floats(m * k)
    let b = rng.floats(k * n)
    var c = [Double](repeating: .nan, count: m * n)
    a.withUnsafeBufferPointer { ap in
      b.withUnsafeBufferPointer { bp in
        c.withUnsafeMutableBufferPointer { cp in
          guard let a0 = ap.baseAddress, let b0 = bp.baseAddress, let c0 = cp.baseAddress else { return }
          DenoiseRepKernels.product(a0, b0, m, k, n, c0)
        }
      }
    }
    var worst = 0.0
    for i in 0..<m {
      for j in 0..<n {
        var s = 0.0
        for p in 0..<k { s += Double(a[i * k + p]) * Double(b[p * n + j]) }
        worst = max(worst, abs(s - c[i * n + j]))
      }
    }
    #expect(worst < 1e-4)
  }

  @Test("the demo fuses, verifies, tells the modes apart and strips")
  func demo() throws {
    let (passed, lines) = try DenoiseRepDemo.run(workFolder: try TestPaths.scratchFolder("denoiserep-demo"))
    #expect(passed, "\(lines.joined(separator: "\n"))")
    print(lines.joined(separator: "\n"))
    #expect(lines.contains { $0.contains("layer base.blocks.1.mlp.fc2") })
    #expect(lines.contains { $0.hasPrefix("strip") })
  }
}
