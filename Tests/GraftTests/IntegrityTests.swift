import Graft
import GraftDemo
import TestSupport
import Testing

/// Issue 14: no corrupt byte passes silently, no stray entry or path, every report says what it read.
@Suite("Integrity: checksums on read and verify, format keys, folder sizes, state dict choices")
struct IntegrityTests {
  static let expected: JSONObject = {
    let bytes = (try? FileSystem.readAll(TestPaths.fixture("integrity/integrity.expected.json"))) ?? []
    let value = bytes.withUnsafeBytes { try? JSONParser.parse($0, file: "integrity.expected.json") }
    return value?.objectValue ?? JSONObject()
  }()

  /// Converts `input` into a scratch folder with options set by `configure`; returns the output's path.
  static func convert(_ input: String, to name: String, _ configure: (inout ConversionOptions) -> Void) throws -> String
  {
    let output = try TestPaths.scratchFolder("integrity-convert") + "/" + name
    var options = ConversionOptions()
    configure(&options)
    try Conversion.run(input: input, output: output, options: options)
    return output
  }

  @Test("convert from a .graft with one flipped data byte fails naming file, tensor and offset, and writes nothing")
  func convertChecksGraftChecksums() throws {
    let dir = try TestPaths.scratchFolder("integrity-flip")
    try Checkpoint.write(DemoModel.vit(), to: dir + "/m.graft")
    let info = try GraftFile.info(path: dir + "/m.graft")
    let victim = try #require(info.tensors.first { $0.storedBytes >= 64 })
    var bytes = try FileSystem.readAll(dir + "/m.graft")
    bytes[victim.offset + victim.storedBytes / 2] ^= 0x01
    try FileSystem.writeAll(bytes, to: dir + "/flip.graft")
    for output in ["out.safetensors", "out.pth", "out-bf16.safetensors", "out.graft"] {
      var options = ConversionOptions()
      if output.contains("bf16") { options.dtype = .bfloat16 }
      let error = #expect(throws: GraftError.self) {
        try Conversion.run(input: dir + "/flip.graft", output: dir + "/" + output, options: options)
      }
      #expect(error?.code == .checksumMismatch, "\(output): \(String(describing: error))")
      #expect(error?.file == dir + "/flip.graft")
      #expect(error?.tensor == victim.name)
      #expect(error?.byteOffset == victim.offset)
      #expect(error?.side == .input)
      #expect(!FileSystem.exists(dir + "/" + output))
    }
    #expect(try FileSystem.contents(of: dir).sorted() == ["flip.graft", "m.graft"])
  }

  @Test("verify checks the CRC-32 of every zip member of a .pth and an .npz (the member Python's testzip names)")
  func verifyZipChecksums() throws {
    for name in ["crc-corrupt.pth", "crc-corrupt.npz"] {
      let member = try #require(Self.expected[name]?.stringValue)
      let report = try VerificationReport.verify(path: TestPaths.fixture("integrity/" + name))
      #expect(!report.isValid, "\(name)")
      #expect(report.checksumMismatches == 1)
      #expect(report.problems.count == 1)
      #expect(report.problems.first?.contains("member '\(member)'") == true, "\(report.problems)")
      #expect(report.render().contains("1 checksum mismatch"))
    }
  }

  @Test(
    "verify reports an HDF5 Fletcher-32 checksum error on the dataset h5py stored with it",
    .enabled(if: HDF5Support.isAvailable))
  func verifyHDF5FilterChecksum() throws {
    let dataset = try #require(Self.expected["fletcher32-corrupt.h5"]?.stringValue)
    let report = try VerificationReport.verify(path: TestPaths.fixture("integrity/fletcher32-corrupt.h5"))
    #expect(!report.isValid)
    #expect(report.problems.contains { $0.contains("'\(dataset)'") && $0.contains("Fletcher32") }, "\(report.problems)")
  }

  @Test("verify of a truncated .graft throws the reader's reason instead of reporting checksums")
  func verifyTruncatedGraft() throws {
    let dir = try TestPaths.scratchFolder("integrity-truncated")
    try Checkpoint.write(DemoModel.vit(), to: dir + "/m.graft")
    let bytes = try FileSystem.readAll(dir + "/m.graft")
    try FileSystem.writeAll(Array(bytes.prefix(bytes.count - 100)), to: dir + "/cut.graft")
    let error = #expect(throws: GraftError.self) { try VerificationReport.verify(path: dir + "/cut.graft") }
    #expect(error?.side == .input)
    #expect(error?.file == dir + "/cut.graft")
    #expect(error?.message.contains("truncated") == true, "\(String(describing: error))")
  }

  @Test("a safetensors written from a .graft that came from a .pth carries format: pt and no empty selection")
  func formatKeyThroughGraft() throws {
    let dir = try TestPaths.scratchFolder("integrity-format")
    let bin = TestPaths.fixture("integrity/bert-tiny/pytorch_model.bin")
    try Conversion.run(input: bin, output: dir + "/bert.graft")
    try Conversion.run(input: dir + "/bert.graft", output: dir + "/model.safetensors")
    let table = try Checkpoint.read(path: dir + "/model.safetensors")
    #expect(table.metadata["format"] == "pt")
    #expect(table.metadata["checkpoint.selected"] == nil)
    #expect(try Checkpoint.read(path: dir + "/bert.graft").metadata["checkpoint.selected"] == nil)
    // A safetensors source without the key keeps its metadata exactly, through .graft too.
    var plain = TensorTable()
    try plain.append("w", Tensor(float32: [1, 2], shape: [2]))
    var options = SafeTensors.WriteOptions()
    options.addFormatKey = false
    _ = try SafeTensors.write(plain, to: dir + "/bare.safetensors", options: options)
    try Conversion.run(input: dir + "/bare.safetensors", output: dir + "/bare.graft")
    try Conversion.run(input: dir + "/bare.graft", output: dir + "/bare-back.safetensors")
    #expect(try FileSystem.readAll(dir + "/bare-back.safetensors") == FileSystem.readAll(dir + "/bare.safetensors"))
  }

  @Test("inspect of a folder with an index counts only the files it references, and paths have one slash")
  func inspectCountsIndexedShards() throws {
    let dir = try TestPaths.scratchFolder("integrity-shards")
    var options = ConversionOptions()
    options.write.shardSize = 60_000
    let src = dir + "/vit.safetensors"
    try Checkpoint.write(DemoModel.vit(), to: src)
    let report = try Conversion.run(input: src, output: dir + "/sharded/", options: options)
    #expect(report.summary.files.allSatisfy { !$0.contains("//") }, "\(report.summary.files)")
    let referenced = try report.summary.files.reduce(0) { $0 + (try FileSystem.size(of: $1)) }
    // Leftovers of another checkpoint in the same folder.
    try FileSystem.writeAll(
      [UInt8](repeating: 0, count: 100_000), to: dir + "/sharded/model-00001-of-00042.safetensors")
    let inspection = try Inspection.inspect(path: dir + "/sharded/")
    #expect(inspection.fileSize == referenced)
    #expect(!inspection.render().contains("//"))
  }

  @Test("run, check and convert say which state dict of a training checkpoint they read, and how it was chosen")
  func stateDictChoiceIsReported() throws {
    let dir = try TestPaths.scratchFolder("integrity-state-dicts")
    let source = TestPaths.fixture("integrity/vit-two-state-dicts.pth")
    let table = try Checkpoint.read(path: source)
    let collection = try #require(table.collection)
    #expect(collection.selected == "model" && collection.isAutomatic)
    #expect(collection.others.map(\.path) == ["model_ema"])
    let note = try #require(collection.note)
    #expect(note.contains("'model'") && note.contains("automatically") && note.contains("'model_ema' (32 tensors)"))

    let converted = try Conversion.run(input: source, output: dir + "/out.safetensors")
    #expect(converted.lines.contains(note))
    #expect(converted.json.objectValue?["state_dict"]?.objectValue?["selected"] == "model")
    // The .pth lost the safetensors metadata that described the ViT, so its configuration is given.
    var vit = VisionTransformer.Options()
    vit.heads = 2
    vit.globalPool = .token
    vit.normEps = 1e-6
    vit.activation = .gelu
    var runOptions = RunWorkflow.Options(checkpoint: source)
    runOptions.model = vit
    let run = try RunWorkflow.run(runOptions)
    #expect(run.lines.contains(note))
    #expect(run.json.objectValue?["state_dict"]?.objectValue?["automatic"] == .bool(true))

    var read = Checkpoint.ReadOptions()
    read.select = "model_ema"
    var checkOptions = CheckOptions()
    checkOptions.model = vit
    let check = try CheckWorkflow.compare(before: source, after: source, read: read, options: checkOptions)
    #expect(check.passed)
    let explicit = try #require(check.header.first { $0.hasPrefix("before: state dict") })
    #expect(explicit.contains("'model_ema' (selected)") && explicit.contains("'model' (32 tensors)"))
    #expect(check.json.objectValue?["state_dict_after"]?.objectValue?["selected"] == "model_ema")
    // One state dict: nothing to choose, nothing reported.
    #expect(try Checkpoint.read(path: dir + "/out.safetensors").collection == nil)
    #expect(try Checkpoint.read(path: dir + "/out.safetensors").metadata["checkpoint.selected"] == "model")
  }

  @Test("errors of passes over a checkpoint name its file (DenoiseRep, reparam)")
  func passErrorsNameTheFile() throws {
    let dir = try TestPaths.scratchFolder("integrity-pass-errors")
    let vit = TestPaths.fixture("engine/vit_token.safetensors")
    let fuse = #expect(throws: GraftError.self) {
      try DenoiseRepWorkflow.fuse(.init(input: vit, output: dir + "/fused.safetensors"))
    }
    #expect(fuse?.file == vit, "\(String(describing: fuse))")
    let reparam = #expect(throws: GraftError.self) {
      try ReparamWorkflow.run(.init(input: vit, output: dir + "/folded.safetensors"))
    }
    #expect(reparam?.file == vit, "\(String(describing: reparam))")
    #expect(try FileSystem.contents(of: dir).isEmpty)
  }

  @Test(
    "check of a BF16 cast: each row shows the quantity the tolerance bounds (max|Δ|/max|before| ≤ rtol), not an element-wise maximum"
  )
  func bf16CheckColumns() throws {
    let vit = TestPaths.fixture("engine/vit_token.safetensors")
    let bf16 = try Self.convert(vit, to: "bf16.safetensors") { $0.dtype = .bfloat16 }
    var options = CheckOptions()
    options.rtol = 2e-2
    let report = try CheckWorkflow.compare(before: vit, after: bf16, options: options)
    #expect(report.passed)
    #expect(report.rows.count >= 3)
    for row in report.rows {
      let ratio = try #require(row.number("relative"))
      let maxAbs = try #require(row.number("max_abs"))
      let scale = try #require(row.number("scale"))
      let bound = try #require(row.number("bound"))
      #expect(abs(ratio - maxAbs / scale) <= 1e-9 * max(1, ratio), "\(row.name)")
      // What an ok row shows is below the tolerance it passed: a BF16 cast is ~4e-3 of the scale, far below 1.
      #expect(ratio < options.rtol && maxAbs <= bound, "\(row.name): \(ratio)")
    }
    let text = report.lines.joined(separator: "\n")
    #expect(text.contains("max|Δ|/max|b|") && text.contains("bound") && !text.contains("max rel"))
    #expect(text.contains("a tensor passes when max|Δ| ≤ bound = "))
  }

  @Test("inspect --json gives details as values: the pickle tree and state dicts, .graft header facts, HDF5 objects")
  func inspectDetailsAreValues() throws {
    let pth = try Inspection.inspect(path: TestPaths.fixture("integrity/vit-two-state-dicts.pth")).json
    let details = try #require(pth.objectValue?["details"]?.objectValue)
    #expect(details["state_dicts"] == [["path": "model", "tensors": 32], ["path": "model_ema", "tensors": 32]])
    let tree = try #require(details["tree"]?.objectValue)
    #expect(tree["type"] == "dict" && tree["tensors"] == 64)
    #expect(tree["entries"]?["epoch"] == 3)
    #expect(tree["entries"]?["model"]?["entries"]?["cls_token"]?["tensor"]?["shape"] == [1, 1, 32])

    let dir = try TestPaths.scratchFolder("integrity-inspect-json")
    try Checkpoint.write(DemoModel.vit(), to: dir + "/m.graft")
    let graft = try #require(try Inspection.inspect(path: dir + "/m.graft").json.objectValue?["details"]?.objectValue)
    #expect(graft["format_version"] == "1.0")
    #expect(graft["header_checksum"]?.stringValue?.hasPrefix("xxh64:") == true)

    if HDF5Support.isAvailable {
      let h5 = try Inspection.inspect(path: TestPaths.fixture("integrity/fletcher32-corrupt.h5")).json
      let objects = try #require(h5.objectValue?["details"]?["objects"]?.arrayValue)
      let weight = try #require(objects.first { $0["path"] == "/layer/weight" })
      #expect(weight["filters"] == ["fletcher32"] && weight["shape"] == [256] && weight["dtype"] == "F32")
    }
  }

  @Test(
    "convert --layout pytorch turns a Keras kernel [3, 3, 2, 3] into a PyTorch weight [3, 2, 3, 3], and keras turns it back",
    .enabled(if: HDF5Support.isAvailable))
  func convertLayout() throws {
    let keras = TestPaths.fixture("integrity/keras-legacy-weights.h5")
    let torchPath = try Self.convert(keras, to: "torch.safetensors") { $0.layout = .pytorch }
    let source = try Checkpoint.read(path: keras)
    let torch = try Checkpoint.read(path: torchPath)
    let kernel = try #require(source["conv.kernel"])
    let weight = try #require(torch["conv.weight"])
    #expect(kernel.shape == [3, 3, 2, 3] && weight.shape == [3, 2, 3, 3])
    let k = try kernel.readAllBytes().withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    let w = try weight.readAllBytes().withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    // weight[o][i][h][w] == kernel[h][w][i][o]
    for (o, i, h, x) in [(0, 0, 0, 0), (2, 1, 0, 2), (1, 0, 2, 1)] {
      #expect(w[((o * 2 + i) * 3 + h) * 3 + x] == k[((h * 3 + x) * 2 + i) * 3 + o])
    }
    #expect(torch["bn.running_var"] != nil && torch["fc.weight"]?.shape == [5, 64])
    let back = try Checkpoint.read(path: try Self.convert(torchPath, to: "back.safetensors") { $0.layout = .keras })
    #expect(try back["conv.kernel"]?.readAllBytes() == kernel.readAllBytes())
    #expect(try back["bn.moving_variance"]?.readAllBytes() == source["bn.moving_variance"]?.readAllBytes())
  }
}
