import GraftCore
import GraftFormats
import GraftSurgery
import TestSupport
import Testing

@Suite("DenoiseRep guards")
struct DenoiseRepGuardTests {
  /// Runs `body` and returns the GraftError it throws.
  func error(_ body: () throws -> Void) -> GraftError? {
    do {
      try body()
      return nil
    } catch let e as GraftError {
      return e
    } catch {
      return nil
    }
  }

  @Test("an input carrying the fused marker is refused unless assumeUnfused")
  func refusesFused() throws {
    var table = try DenoiseRepTables.layer()
    table.metadata[DenoiseRep.fusedMarkerKey] = "true"
    let e = error { _ = try DenoiseRep.fuse(table) }
    #expect(e?.code == .invalidArgument)
    #expect(e?.message.contains("already fused") == true)
    var o = DenoiseRep.FuseOptions()
    o.assumeUnfused = true
    o.keepLeftovers = true
    let (fused, _) = try DenoiseRep.fuse(table, options: o)
    // Keeping leftovers (the public code's behaviour) leaves a table that is refused the next time.
    #expect(error { _ = try DenoiseRep.fuse(fused) }?.code == .invalidArgument)
  }

  @Test("a bias-less Linear gains a bias of shape [out], placed after its weight, with a warning")
  func biasAdded() throws {
    let table = try DenoiseRepTables.layer(out: 4, inp: 3, bias: false)
    let (fused, report) = try DenoiseRep.fuse(table)
    #expect(fused["blocks.0.mlp.fc1.bias"]?.shape == [4])
    #expect(fused.names == ["blocks.0.mlp.fc1.weight", "blocks.0.mlp.fc1.bias"])
    #expect(report.layers.first?.biasAdded == true)
    #expect(report.warnings.contains { $0.contains("blocks.0.mlp.fc1.bias") && $0.contains("must accept") })
  }

  @Test("a DenoiseConv2d is refused, and fused with a loud warning under compatConv")
  func convRefused() throws {
    var table = TensorTable()
    let c = 2
    try table.append("conv.weight", Tensor(float32: (0..<(c * c * 9)).map { Float($0) / 40 }, shape: [c, c, 3, 3]))
    try table.append("conv.bias", Tensor(float32: [0.5, -0.5], shape: [c]))
    for (name, values) in DenoiseRepTables.schedule() {
      try table.append("conv." + name, Tensor(float32: values, shape: [values.count]))
    }
    try table.append("conv.dm.weight", Tensor(float32: (0..<(c * c * 9)).map { Float($0) / 50 }, shape: [c, c, 3, 3]))
    try table.append("conv.dm.bias", Tensor(float32: [0.1, 0.2], shape: [c]))
    let e = error { _ = try DenoiseRep.fuse(table) }
    #expect(e?.code == .invalidArgument)
    #expect(e?.tensor == "conv")
    #expect(e?.message.contains("DenoiseConv2d") == true && e?.message.contains("compatConv reproduces") == true)
    var o = DenoiseRep.FuseOptions()
    o.compatConv = true
    let (fused, report) = try DenoiseRep.fuse(table, options: o)
    #expect(report.warnings.contains { $0.contains("NOT") && $0.contains("conv") })
    let k = try DenoiseRep.constants(for: try #require(report.layers.first?.layer), t: 1, in: table)
    let bias = try floatValues(try #require(fused["conv.bias"]))
    #expect(abs(Double(bias[0]) - 0.5 * k.c2 * k.c3) < 1e-7)
    #expect(fused["conv.weight"]?.shape == [c, c, 3, 3])
  }

  @Test("missing buffers, T out of range, dm shape mismatch, no layers and an unknown t-map name are clear errors")
  func badInputs() throws {
    let missing = try DenoiseRepTables.layer(skipBuffer: "sqrt_alphas")
    var e = error { _ = try DenoiseRep.fuse(missing) }
    #expect(e?.code == .invalidModel)
    #expect(e?.tensor == "blocks.0.mlp.fc1.sqrt_alphas")

    let table = try DenoiseRepTables.layer()
    var o = DenoiseRep.FuseOptions()
    o.tMap = ["blocks.0.mlp.fc1": 1000]
    e = error { _ = try DenoiseRep.fuse(table, options: o) }
    #expect(e?.code == .invalidArgument)
    #expect(e?.message.contains("T = 1000 is outside the schedule's 1000 steps") == true)

    o.tMap = ["blocks.0.mlp.fc9": 3]
    e = error { _ = try DenoiseRep.fuse(table, options: o) }
    #expect(e?.code == .invalidArgument)
    #expect(e?.message.contains("blocks.0.mlp.fc9") == true)

    var bad = table
    try bad.replace(
      "blocks.0.mlp.fc1.dm.weight", with: Tensor(float32: [Float](repeating: 0, count: 24), shape: [6, 4]))
    e = error { _ = try DenoiseRep.fuse(bad) }
    #expect(e?.code == .invalidModel)
    #expect(e?.tensor == "blocks.0.mlp.fc1.dm.weight")
    #expect(e?.message.contains("expected [5, 5]") == true)

    var plain = TensorTable()
    try plain.append("fc.weight", Tensor(float32: [1, 2], shape: [1, 2]))
    e = error { _ = try DenoiseRep.fuse(plain) }
    #expect(e?.code == .invalidModel)
    #expect(e?.message.contains("no DenoiseRep layers") == true)
    #expect(error { _ = try DenoiseRep.strip(plain) }?.code == .invalidModel)

    var orphan = TensorTable()
    try orphan.append("x.dm.weight", Tensor(float32: [1], shape: [1, 1]))
    e = error { _ = try DenoiseRep.findLayers(in: orphan) }
    #expect(e?.tensor == "x.weight")

    var noTime = table
    noTime.removeAll { $0.name.contains("time_mlp.3") }
    o = DenoiseRep.FuseOptions()
    o.mode = .exact
    e = error { _ = try DenoiseRep.fuse(noTime, options: o) }
    #expect(e?.tensor == "blocks.0.mlp.fc1.time_mlp.3.weight")
  }

  @Test("constants come from the stored buffers and match the reference table")
  func constants() throws {
    let table = try DenoiseRepTables.layer()
    let layer = try #require(try DenoiseRep.findLayers(in: table).first)
    let k24 = try DenoiseRep.constants(for: layer, t: 24, in: table)
    #expect(abs(k24.c1 - 2.6310e-3) < 2e-7)
    #expect(abs(k24.c2 - 1.2068e-2) < 1e-6)
    #expect(abs(k24.c3 - 1.000_072_8) < 1e-7)
  }
}

@Suite("DenoiseRep strip")
struct DenoiseRepStripTests {
  @Test("strip keeps the vanilla key set with byte-identical tensors and reports what it removed")
  func stripReleased() throws {
    let released = try SafeTensors.read(path: TestPaths.fixture("denoiserep/released.safetensors"))
    let vanilla = try SafeTensors.read(path: TestPaths.fixture("denoiserep/released-vanilla.safetensors"))
    let (clean, report) = try DenoiseRep.strip(released)
    #expect(Set(clean.names) == Set(vanilla.names))
    for name in vanilla.names {
      #expect(try clean[name]?.readAllBytes() == vanilla[name]?.readAllBytes(), "\(name)")
    }
    #expect(report.layers.count == 2)
    #expect(report.removed.count == released.count - vanilla.count)
    let expectedBytes = released.storedByteCount - vanilla.storedByteCount
    #expect(report.removedBytes == expectedBytes)
    #expect(clean.lineage.last?.operation == DenoiseRep.stripOperation)
    // The remaining tensors are the released file's own byte sources.
    let name = "base.blocks.0.mlp.fc1.weight"
    #expect(clean[name]?.bytes.storageIdentity == released[name]?.bytes.storageIdentity)
  }

  @Test("strip of the .pth release gives the same result as of the .safetensors one")
  func stripPth() throws {
    let released = try PyTorchCheckpoint.read(path: TestPaths.fixture("denoiserep/released.pth"))
    let vanilla = try SafeTensors.read(path: TestPaths.fixture("denoiserep/released-vanilla.safetensors"))
    let (clean, _) = try DenoiseRep.strip(released)
    #expect(clean.names.sorted() == vanilla.names.sorted())
    for name in vanilla.names {
      #expect(try clean[name]?.readAllBytes() == vanilla[name]?.readAllBytes(), "\(name)")
    }
  }
}
