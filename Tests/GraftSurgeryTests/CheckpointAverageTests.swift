import GraftCore
import GraftFormats
import GraftSurgery
import TestSupport
import Testing

/// Averaging and interpolation against timm's avg_checkpoints logic and float64 references: bit for bit.
@Suite("Checkpoint averaging")
struct CheckpointAverageTests {
  static func inputs() throws -> [TensorTable] {
    try (0..<3).map { try PyTorchCheckpoint.read(path: TestPaths.fixture("deploy/avg-\($0).pth")) }
  }

  static func expectIdentical(_ out: TensorTable, _ ref: TensorTable) throws {
    #expect(Set(out.names) == Set(ref.names))
    for name in ref.names {
      #expect(out[name]?.dtype == ref[name]?.dtype, "\(name)")
      #expect(try out[name]?.readAllBytes() == ref[name]?.readAllBytes(), "\(name)")
    }
  }

  @Test("timm-compatible average is bit-identical to avg_checkpoints (integers averaged, float32 out)")
  func timm() throws {
    var o = CheckpointAverage.Options()
    o.timmCompatible = true
    let (out, report) = try CheckpointAverage.average(try Self.inputs(), options: o)
    try Self.expectIdentical(out, try PyTorchCheckpoint.read(path: TestPaths.fixture("deploy/avg-timm.pth")))
    #expect(report.combined == 9 && report.takenFromLast.isEmpty)
  }

  @Test("weighted 0.2/0.3/0.5 is bit-identical to the float64 reference; num_batches_tracked from the last")
  func weighted() throws {
    var o = CheckpointAverage.Options()
    o.weights = [0.2, 0.3, 0.5]
    let (out, report) = try CheckpointAverage.average(try Self.inputs(), options: o)
    try Self.expectIdentical(out, try SafeTensors.read(path: TestPaths.fixture("deploy/avg-weighted.safetensors")))
    #expect(report.takenFromLast == ["bn.num_batches_tracked"])
    #expect(out["fc.weight"]?.bytes.contiguousBytes == nil)
  }

  @Test("linear and spherical interpolation at t = 0.3 are bit-identical to the float64 references")
  func interpolation() throws {
    let t = try Self.inputs()
    for (method, file) in [(CheckpointAverage.Method.linear, "interp-lerp"), (.slerp, "interp-slerp")] {
      let (out, _) = try CheckpointAverage.interpolate(t[0], t[1], t: 0.3, method: method)
      try Self.expectIdentical(out, try SafeTensors.read(path: TestPaths.fixture("deploy/\(file).safetensors")))
    }
  }

  @Test("a missing tensor, a shape difference and a wrong weight count are errors naming what is wrong")
  func mismatches() throws {
    var t = try Self.inputs()
    t[2].removeAll { $0.name == "out.bias" }
    let missing = #expect(throws: GraftError.self) { try CheckpointAverage.average(t) }
    #expect(missing?.tensor == "out.bias" && missing?.message.contains("checkpoint 3") == true)
    t = try Self.inputs()
    try t[1].replace("out.bias", with: Tensor(float32: [0, 0], shape: [2]))
    let shape = #expect(throws: GraftError.self) { try CheckpointAverage.average(t) }
    #expect(shape?.tensor == "out.bias")
    var o = CheckpointAverage.Options()
    o.weights = [1, 2]
    let weights = #expect(throws: GraftError.self) { try CheckpointAverage.average(try Self.inputs(), options: o) }
    #expect(weights?.option == "weights")
  }

  @Test("arccos by Newton's method agrees with libm (math.acos) at known points")
  func arccos() {
    #expect(abs(CheckpointAverage.arccos(0.5) - Double.pi / 3) < 1e-15)
    #expect(abs(CheckpointAverage.arccos(-0.9) - 2.690_565_841_793_530_8) < 1e-14)
  }
}
