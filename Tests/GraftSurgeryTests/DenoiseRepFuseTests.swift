import GraftCore
import GraftFormats
import GraftSurgery
import TestSupport
import Testing

@Suite("DenoiseRep fuse")
struct DenoiseRepFuseTests {
  static let fixture = TestPaths.fixture("denoiserep/reid-unfused.safetensors")
  static let io = TestPaths.fixture("denoiserep/reid-io.safetensors")

  @Test("finds the four wrapped MLP Linears and re-derives T with the public traversal rule")
  func discoveryAndTRule() throws {
    let table = try SafeTensors.read(path: Self.fixture)
    let layers = try DenoiseRep.findLayers(in: table)
    #expect(
      layers.map(\.prefix) == [
        "base.blocks.0.mlp.fc1", "base.blocks.0.mlp.fc2", "base.blocks.1.mlp.fc1", "base.blocks.1.mlp.fc2",
      ])
    #expect(layers.allSatisfy { $0.leftovers.count == 12 + 4 + 2 })
    let tMap = DenoiseRep.traversalTimesteps(for: layers, in: table)
    let expected = try #require(table.metadata["t_map"]?.stringValue)
    let parsed = try JSONParser.parse(expected)
    for layer in layers {
      #expect(tMap[layer.prefix] == parsed[layer.prefix]?.intValue, "\(layer.prefix)")
    }
    #expect(tMap["base.blocks.1.mlp.fc1"] == 4 && tMap["base.blocks.1.mlp.fc2"] == 3)
  }

  @Test("the .pth and .safetensors fixtures give the same layers and T (module order from the state dict)")
  func pthMatchesSafetensors() throws {
    let pth = try PyTorchCheckpoint.read(path: TestPaths.fixture("denoiserep/reid-unfused.pth"))
    let st = try SafeTensors.read(path: Self.fixture)
    let a = try DenoiseRep.findLayers(in: pth)
    let b = try DenoiseRep.findLayers(in: st)
    #expect(a.map(\.prefix) == b.map(\.prefix))
    #expect(DenoiseRep.traversalTimesteps(for: a, in: pth) == DenoiseRep.traversalTimesteps(for: b, in: st))
  }

  @Test("fused weights and biases match PyTorch's public formula in every mode", arguments: DenoiseRep.Mode.allCases)
  func matchesPyTorch(mode: DenoiseRep.Mode) throws {
    let table = try SafeTensors.read(path: Self.fixture)
    let io = try SafeTensors.read(path: Self.io)
    var options = DenoiseRep.FuseOptions()
    options.mode = mode
    for layer in try DenoiseRep.findLayers(in: table) {
      options.noise[layer.prefix] = try DenoiseRepTables.doubles(try #require(io["z." + layer.prefix]))
    }
    let (fused, report) = try DenoiseRep.fuse(table, options: options)
    #expect(report.layers.count == 4)
    for layer in report.layers {
      for part in ["weight", "bias"] {
        let name = layer.layer.prefix + "." + part
        let got = try DenoiseRepTables.doubles(try #require(fused[name]))
        let want = try DenoiseRepTables.doubles(try #require(io["fused.\(mode.rawValue).\(name)"]))
        let worst = zip(got, want).map { abs($0 - $1) }.max() ?? .infinity
        let scale = max(1, want.map(abs).max() ?? 0)
        // float32 storage of a float64 result: half an ulp of the values, nothing more.
        #expect(worst <= 2e-7 * scale, "\(mode) \(name): max |Δ| = \(worst)")
      }
    }
  }

  @Test("the output has the vanilla key set, the fused marker and a lineage record")
  func outputKeysAndMarker() throws {
    let table = try SafeTensors.read(path: Self.fixture)
    let (fused, report) = try DenoiseRep.fuse(table)
    let leftovers = Set(try DenoiseRep.findLayers(in: table).flatMap(\.leftovers))
    #expect(fused.names == table.names.filter { !leftovers.contains($0) })
    #expect(!fused.names.contains { $0.contains(".dm.") || $0.contains("time_mlp") || $0.hasSuffix(".alphas") })
    #expect(Set(report.removed) == leftovers)
    #expect(
      report.removedBytes == table.entries.filter { leftovers.contains($0.name) }.reduce(0) { $0 + $1.tensor.byteCount }
    )
    #expect(fused.metadata[DenoiseRep.fusedMarkerKey]?.stringValue == "true")
    #expect(fused.metadata["denoiserep_mode"]?.stringValue == "mean")
    #expect(fused.lineage.last?.operation == DenoiseRep.fuseOperation)
    // Untouched tensors keep their byte sources (a writer copies them as they are).
    let w = try #require(table["base.blocks.0.attn.qkv.weight"])
    let w2 = try #require(fused["base.blocks.0.attn.qkv.weight"])
    #expect(w.bytes.storageIdentity == w2.bytes.storageIdentity)
  }

  @Test("modes differ by far more than float32 noise, so a silent mode mix-up fails")
  func modesDiffer() throws {
    let table = try SafeTensors.read(path: Self.fixture)
    var results: [DenoiseRep.Mode: TensorTable] = [:]
    for mode in DenoiseRep.Mode.allCases {
      var o = DenoiseRep.FuseOptions()
      o.mode = mode
      o.seed = 42
      results[mode] = try DenoiseRep.fuse(table, options: o).table
    }
    func biasGap(_ a: DenoiseRep.Mode, _ b: DenoiseRep.Mode) throws -> Double {
      var worst = 0.0
      for name in table.names where name.hasSuffix("mlp.fc1.bias") || name.hasSuffix("mlp.fc2.bias") {
        let x = try DenoiseRepTables.doubles(try #require(results[a]?[name]))
        let y = try DenoiseRepTables.doubles(try #require(results[b]?[name]))
        worst = max(worst, zip(x, y).map { abs($0 - $1) }.max() ?? 0)
      }
      return worst
    }
    #expect(try biasGap(.compat, .exact) > 1e-4)
    #expect(try biasGap(.mean, .exact) > 1e-4)
    #expect(try biasGap(.mean, .compat) > 1e-4)
    // Same mode, same seed: identical; another seed: a different z.
    var o = DenoiseRep.FuseOptions()
    o.mode = .compat
    o.seed = 42
    let again = try DenoiseRep.fuse(table, options: o).table
    let name = "base.blocks.0.mlp.fc1.bias"
    #expect(try again[name]?.readAllBytes() == results[.compat]?[name]?.readAllBytes())
    o.seed = 43
    let other = try DenoiseRep.fuse(table, options: o).table
    #expect(try other[name]?.readAllBytes() != results[.compat]?[name]?.readAllBytes())
  }

  @Test(
    "float64 oracle: explicit denoise-then-Linear equals the fused Linear to 1e-12", arguments: DenoiseRep.Mode.allCases
  )
  func float64Oracle(mode: DenoiseRep.Mode) throws {
    let (out, inp) = (7, 9)
    let table = try DenoiseRepTables.layer(out: out, inp: inp, dtype: .float64, seed: 3)
    let layer = try #require(try DenoiseRep.findLayers(in: table).first)
    var options = DenoiseRep.FuseOptions()
    options.mode = mode
    options.tMap = [layer.prefix: 24]
    var rng = SplitMix64(seed: 9)
    let z = (0..<inp).map { _ in Double(rng.nextSignedUnitFloat()) * 1.7 }
    options.noise[layer.prefix] = z
    let (fused, _) = try DenoiseRep.fuse(table, options: options)
    let k = try DenoiseRep.constants(for: layer, t: 24, in: table)
    let e = try DenoiseRep.timeEmbedding(for: layer, t: 24, in: table)
    let w = try DenoiseRepTables.doubles(try #require(table[layer.name("weight")]))
    let b = try DenoiseRepTables.doubles(try #require(table[layer.name("bias")]))
    let wd = try DenoiseRepTables.doubles(try #require(table[layer.name("dm.weight")]))
    let bd = try DenoiseRepTables.doubles(try #require(table[layer.name("dm.bias")]))
    let wf = try DenoiseRepTables.doubles(try #require(fused[layer.name("weight")]))
    let bf = try DenoiseRepTables.doubles(try #require(fused[layer.name("bias")]))
    var worst = 0.0
    for _ in 0..<2 * 129 {
      let x = (0..<inp).map { _ in Double(rng.nextSignedUnitFloat()) * 1.7 }
      let f = mode == .exact ? zip(x, e).map { $0 + $1 } : x
      var xd = [Double](repeating: 0, count: inp)
      for i in 0..<inp {
        var eps = bd[i]
        for j in 0..<inp { eps += wd[i * inp + j] * f[j] }
        xd[i] = k.c3 * x[i] - k.c1 * eps + (mode == .compat ? k.c2 * z[i] : 0)
      }
      for o in 0..<out {
        var y = b[o]
        var y2 = bf[o]
        for i in 0..<inp {
          y += w[o * inp + i] * xd[i]
          y2 += wf[o * inp + i] * x[i]
        }
        worst = max(worst, abs(y - y2))
      }
    }
    #expect(worst <= 1e-12, "max |y − y'| = \(worst)")
  }

  @Test("stored dtypes are kept: a BF16 layer fuses into BF16 tensors")
  func keepsDType() throws {
    let table = try DenoiseRepTables.layer(dtype: .bfloat16)
    let (fused, _) = try DenoiseRep.fuse(table)
    #expect(fused["blocks.0.mlp.fc1.weight"]?.dtype == .bfloat16)
    #expect(fused["blocks.0.mlp.fc1.bias"]?.dtype == .bfloat16)
  }

  @Test("a float32 product kernel gives the same fused weights as the float64 path to float32 rounding")
  func productKernelAgrees() throws {
    let table = try DenoiseRepTables.layer(out: 12, inp: 10)
    var options = DenoiseRep.FuseOptions()
    options.product = { a, b, m, k, n, c in
      for i in 0..<m {
        for j in 0..<n {
          var s: Float = 0
          for p in 0..<k { s += a[i * k + p] * b[p * n + j] }
          c[i * n + j] = Double(s)
        }
      }
    }
    let fast = try DenoiseRepTables.doubles(
      try #require(try DenoiseRep.fuse(table, options: options).table["blocks.0.mlp.fc1.weight"]))
    let exact = try DenoiseRepTables.doubles(try #require(try DenoiseRep.fuse(table).table["blocks.0.mlp.fc1.weight"]))
    let worst = zip(fast, exact).map { abs($0 - $1) }.max() ?? .infinity
    #expect(worst <= 1e-7)
  }
}
