import Graft
import GraftDemo
import TestSupport
import Testing

@Suite("graft convert / diff / verify through the library")
struct ConversionTests {
  let model = DemoModel.vit()

  func source() throws -> (String, String) {
    let dir = try TestPaths.scratchFolder("convert")
    let path = dir + "/vit.safetensors"
    try Checkpoint.write(model, to: path)
    return (dir, path)
  }

  @Test(
    "every output format reads back bit-identical",
    arguments: ["out.graft", "out.pth", "out.npz", "out.h5", "out.safetensors", "sharded/"])
  func roundTrips(output: String) throws {
    if output.hasSuffix(".h5") && !HDF5Support.isAvailable { return }
    let (dir, src) = try source()
    var options = ConversionOptions()
    if output == "sharded/" { options.write.shardSize = 50_000 }
    let report = try Conversion.run(input: src, output: dir + "/" + output, options: options)
    #expect(report.tensorsOut == model.count)
    let back = try Checkpoint.read(path: dir + "/" + output)
    let diff = try CheckpointDiff.compare(model, back)
    #expect(diff.matches, "\(diff.render())")
    #expect(diff.common.allSatisfy { $0.bitIdentical })
    #expect(try VerificationReport.verify(path: dir + "/" + output).isValid)
  }

  @Test("safetensors → .graft → safetensors is byte-identical, and .graft records the lineage")
  func byteIdentical() throws {
    let (dir, src) = try source()
    var o = ConversionOptions()
    o.write.compress = true
    try Conversion.run(input: src, output: dir + "/m.graft", options: o)
    try Conversion.run(input: dir + "/m.graft", output: dir + "/back.safetensors")
    #expect(try FileSystem.readAll(src) == FileSystem.readAll(dir + "/back.safetensors"))
    let lineage = try Checkpoint.read(path: dir + "/m.graft").lineage
    #expect(lineage.count == 1)
    #expect(lineage.first?.operation == "convert")
    #expect(lineage.first?.inputs == [try model.contentDigest()])
    #expect(lineage.first?.output == (try model.contentDigest()))
  }

  @Test("a changed conversion records the digest of the table it read, with the same read options")
  func lineageOfSelectedCast() throws {
    let source = TestPaths.fixture("pytorch/detectron2.pth")
    let dir = try TestPaths.scratchFolder("lineage")
    var read = Checkpoint.ReadOptions()
    read.select = "ema_state"
    var o = ConversionOptions()
    o.read = read
    o.dtype = .bfloat16
    try Conversion.run(input: source, output: dir + "/ema.graft", options: o)
    let lineage = try Checkpoint.read(path: dir + "/ema.graft").lineage
    #expect(lineage.last?.inputs == [try Checkpoint.read(path: source, options: read).contentDigest()])
    #expect(lineage.last?.inputs != [try Checkpoint.read(path: dir + "/ema.graft").contentDigest()])
  }

  @Test("the same input and options give byte-identical outputs")
  func deterministic() throws {
    let (dir, src) = try source()
    for name in ["a.graft", "b.graft", "a.pth", "b.pth", "a-bf16.safetensors", "b-bf16.safetensors"] {
      var o = ConversionOptions()
      if name.contains("bf16") { o.dtype = .bfloat16 }
      try Conversion.run(input: src, output: dir + "/" + name, options: o)
    }
    #expect(try FileSystem.readAll(dir + "/a.graft") == FileSystem.readAll(dir + "/b.graft"))
    #expect(try FileSystem.readAll(dir + "/a.pth") == FileSystem.readAll(dir + "/b.pth"))
    #expect(try FileSystem.readAll(dir + "/a-bf16.safetensors") == FileSystem.readAll(dir + "/b-bf16.safetensors"))
  }

  @Test("--dtype casts floats only and reports; diff sees the rounding and accepts it within tolerance")
  func casting() throws {
    let (dir, src) = try source()
    var table = model
    try table.append("step", Tensor(dtype: .int64, shape: [], copying: [7, 0, 0, 0, 0, 0, 0, 0]))
    try Checkpoint.write(table, to: src)
    var o = ConversionOptions()
    o.dtype = .bfloat16
    let report = try Conversion.run(input: src, output: dir + "/bf16.safetensors", options: o)
    #expect(report.casts.count == model.count)
    #expect(report.totalCast.maxRelError > 0 && report.totalCast.maxRelError <= 1.0 / 256)
    let back = try Checkpoint.read(path: dir + "/bf16.safetensors")
    #expect(back["step"]?.dtype == .int64)
    #expect(back["head.weight"]?.dtype == .bfloat16)
    #expect(try !CheckpointDiff.compare(table, back).matches)
    #expect(try CheckpointDiff.compare(table, back, rtol: 1.0 / 256).matches)
  }

  @Test("--include, --exclude and --rename select and rename; collisions are refused")
  func selectRename() throws {
    let (dir, src) = try source()
    var o = ConversionOptions()
    o.selection = try TensorSelection(include: [#"^blocks\."#], exclude: [#"\.bias$"#])
    o.renames = [try RenameRule(#"s/^blocks\.(\d+)\./layers.$1./"#)]
    let r = try Conversion.run(input: src, output: dir + "/sel.safetensors", options: o)
    let back = try Checkpoint.read(path: dir + "/sel.safetensors")
    #expect(back.names.allSatisfy { $0.hasPrefix("layers.") && !$0.hasSuffix(".bias") })
    #expect(back.count == r.tensorsOut)
    #expect(r.dropped.count == model.count - back.count)
    var clash = ConversionOptions()
    clash.renames = [try RenameRule("s/.*/same/")]
    #expect(throws: GraftError.self) { try Conversion.run(input: src, output: dir + "/x.safetensors", options: clash) }
    #expect(throws: GraftError.self) { try RenameRule("s/a/b") }
  }

  @Test("the output may not be the input, and a failed write leaves nothing behind")
  func refusals() throws {
    let (dir, src) = try source()
    let before = try FileSystem.readAll(src)
    #expect(throws: GraftError.self) { try Conversion.run(input: src, output: src) }
    #expect(throws: GraftError.self) { try Conversion.run(input: src, output: dir + "/missing-folder/out.graft") }
    #expect(try FileSystem.readAll(src) == before)
    #expect(try FileSystem.contents(of: dir) == ["vit.safetensors"])
  }

  @Test("diff reports missing, extra, reshaped and changed tensors")
  func diffs() throws {
    var other = model
    other.removeAll { $0.name == "norm.bias" }
    try other.append("extra", Tensor(float32: [1], shape: [1]))
    try other.replace("head.bias", with: Tensor(float32: [Float](repeating: 0, count: 10), shape: [10]))
    try other.replace("norm.weight", with: Tensor(float32: [Float](repeating: 1, count: 32), shape: [2, 16]))
    let d = try CheckpointDiff.compare(model, other)
    #expect(d.onlyInA == ["norm.bias"])
    #expect(d.onlyInB == ["extra"])
    #expect(d.common.first { $0.name == "head.bias" }?.matches == false)
    #expect(d.common.first { $0.name == "norm.weight" }?.maxAbs == nil)
    #expect(!d.matches)
    #expect(d.render().contains("DIFFERENT"))
  }

  @Test("verify finds a damaged .graft and counts non-finite values")
  func verify() throws {
    let (dir, src) = try source()
    try Conversion.run(input: src, output: dir + "/m.graft")
    var bytes = try FileSystem.readAll(dir + "/m.graft")
    bytes[200] ^= 0x10
    try FileSystem.writeAll(bytes, to: dir + "/damaged.graft")
    #expect(try !VerificationReport.verify(path: dir + "/damaged.graft").isValid)
    var t = TensorTable()
    try t.append("x", Tensor(float32: [1, .nan, .infinity, 2], shape: [4]))
    try Checkpoint.write(t, to: dir + "/nan.safetensors")
    let v = try VerificationReport.verify(path: dir + "/nan.safetensors")
    #expect(v.isValid)
    #expect(v.nonFinite.first?.nan == 1 && v.nonFinite.first?.inf == 1)
  }

  @Test("inspect reads headers only and reports offsets, totals and aliases")
  func inspect() throws {
    let (dir, src) = try source()
    var t = model
    try t.appendAlias("head.tied", of: "head.weight")
    try Checkpoint.write(t, to: dir + "/a.graft")
    let i = try Inspection.inspect(path: dir + "/a.graft")
    #expect(i.table?.aliases.map(\.alias) == ["head.tied"])
    let text = i.render()
    #expect(text.contains("aliases"))
    #expect(text.contains(Format.grouped(model.parameterCount) + " parameters"))
    let s = try Inspection.inspect(path: src)
    #expect(s.table.map { $0.entries.allSatisfy { Inspection.fileOffset(of: $0.tensor) != nil } } == true)
  }
}

@Suite("graft demo")
struct DemoTests {
  @Test("every demo step passes")
  func demo() throws {
    let dir = try TestPaths.scratchFolder("demo")
    var lines: [String] = []
    let runner = try DemoRunner(workFolder: dir, fixturesFolder: TestPaths.repositoryRoot + "/Fixtures") {
      lines.append($0)
    }
    #expect(runner.run(), "\(lines.joined(separator: "\n"))")
    #expect(lines.last?.contains("steps passed") == true)
  }
}
