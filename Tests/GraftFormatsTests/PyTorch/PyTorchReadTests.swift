import GraftCore
import GraftFormats
import TestSupport
import Testing

@Suite struct PyTorchReadTests {
  @Test func timmViTMatchesTorchLoad() throws {
    let archive = try PyTorchCheckpoint.open(path: TestPaths.fixture("pytorch/vit_tiny.pth"))
    #expect(archive.formatDescription.contains("top folder 'vit_tiny'"))
    #expect(archive.formatDescription.contains("pickle protocol 2"))
    #expect(archive.referencedGlobals.isEmpty)
    let table = try archive.table(select: nil, stripPrefixes: [])
    try ExpectedTensors("pytorch/vit_tiny.pth").check(table)
    #expect(table.names.first == "cls_token")
    // Contiguous tensors stay zero-copy views of the mapping.
    #expect(table["blocks.0.attn.qkv.weight"]?.bytes.contiguousBytes != nil)
  }

  @Test func viewsAreMaterialisedAndSharedStoragesBecomeAliases() throws {
    let table = try PyTorchCheckpoint.read(path: TestPaths.fixture("pytorch/views.pth"))
    try ExpectedTensors("pytorch/views.pth").check(table)
    let aliases = Dictionary(uniqueKeysWithValues: table.aliases.map { ($0.alias, $0.target) })
    #expect(aliases["tied"] == "base")
    #expect(aliases["same_view"] == "base")
    #expect(aliases["transposed"] == nil)
    #expect(table["transposed"]?.bytes.contiguousBytes == nil)
    #expect(table["row2"]?.bytes.contiguousBytes != nil)
  }

  @Test func everyDTypeMatchesTorchLoad() throws {
    let archive = try PyTorchCheckpoint.open(path: TestPaths.fixture("pytorch/dtypes.pth"))
    let table = try archive.table(select: nil, stripPrefixes: [])
    try ExpectedTensors("pytorch/dtypes.pth").check(table)
    #expect(table["f8_e4m3fn"]?.dtype == .float8E4M3)
    #expect(table["c128"]?.dtype == .complex128)
    #expect(table["scalar"]?.shape == [])
  }

  @Test func legacyRawStream() throws {
    let archive = try PyTorchCheckpoint.open(path: TestPaths.fixture("pytorch/legacy.pth"))
    #expect(archive.formatDescription.contains("legacy"))
    let table = try archive.table(select: nil, stripPrefixes: [])
    try ExpectedTensors("pytorch/legacy.pth").check(table)
    #expect(table.aliases.contains { $0.alias == "tied" && $0.target == "w" })
    #expect(table.metadata["checkpoint.selected"] == .string("state_dict"))
  }

  @Test func legacyTar() throws {
    let archive = try PyTorchCheckpoint.open(path: TestPaths.fixture("pytorch/legacy_tar.pth"))
    #expect(archive.formatDescription.contains("tar"))
    let table = try archive.table(select: nil, stripPrefixes: [])
    #expect(table.aliases.contains { $0.alias == "tied" && $0.target == "w" })
    try ExpectedTensors("pytorch/legacy_tar.pth").check(table) { $0 }
  }

  @Test func otherFolderProtocol4BigEndianAndDeflated() throws {
    let expected = try ExpectedTensors("pytorch/plain")
    for name in ["protocol4_folder.pth", "bigendian.pth", "deflated.pth"] {
      let archive = try PyTorchCheckpoint.open(path: TestPaths.fixture("pytorch/" + name))
      try expected.check(try archive.table(select: nil, stripPrefixes: []))
    }
    let p4 = try PyTorchCheckpoint.open(path: TestPaths.fixture("pytorch/protocol4_folder.pth"))
    #expect(p4.formatDescription.contains("'my_model'") && p4.formatDescription.contains("protocol 4"))
    let be = try PyTorchCheckpoint.open(path: TestPaths.fixture("pytorch/bigendian.pth"))
    #expect(be.formatDescription.contains("big-endian"))
  }

  @Test func detectron2PicksModelAndOffersEMA() throws {
    let archive = try PyTorchCheckpoint.open(path: TestPaths.fixture("pytorch/detectron2.pth"))
    let candidates = archive.stateDictCandidates.map(\.path)
    #expect(candidates.contains("model") && candidates.contains("ema_state") && candidates.contains("optimizer.state"))
    try ExpectedTensors("pytorch/detectron2.pth").check(try archive.table(select: nil, stripPrefixes: []))
    try ExpectedTensors("pytorch/detectron2.pth.ema").check(try archive.table(select: "ema_state", stripPrefixes: []))
    let tree = archive.treeDescription(maxDepth: 2)
    #expect(tree.contains("model: OrderedDict(9), 9 tensors"))
    #expect(tree.contains("iteration: 99"))
    let e = graftError { _ = try archive.table(select: "nonexistent", stripPrefixes: []) }
    #expect(e?.code == .invalidArgument)
    #expect(e?.message.contains("ema_state (9 tensors)") == true)
  }

  @Test func mmengineStateDictAndOptimizerState() throws {
    let archive = try PyTorchCheckpoint.open(path: TestPaths.fixture("pytorch/mmengine.pth"))
    try ExpectedTensors("pytorch/mmengine.pth").check(try archive.table(select: nil, stripPrefixes: []))
    let optimizer = try archive.table(select: "optimizer.state", stripPrefixes: [])
    try ExpectedTensors("pytorch/mmengine.pth.optimizer").check(optimizer)
    let tree = archive.treeDescription(maxDepth: 3)
    #expect(tree.contains("seed: np.int64(42)"))
    #expect(tree.contains("lr: np.float64(0.5)"))
  }

  @Test func lightningPrefixNamespaceAndNumPyValues() throws {
    var options = PyTorchCheckpoint.ReadOptions()
    options.stripPrefixes = ["model."]
    let table = try PyTorchCheckpoint.read(path: TestPaths.fixture("pytorch/lightning.ckpt"), options: options)
    try ExpectedTensors("pytorch/lightning.ckpt").check(table) { $0.hasPrefix("model.") ? String($0.dropFirst(6)) : $0 }
    #expect(table.metadata["checkpoint.epoch"] == .int(3))
    #expect(table.metadata["checkpoint.best_score"] == .double(0.25))
    let archive = try PyTorchCheckpoint.open(path: TestPaths.fixture("pytorch/lightning.ckpt"))
    #expect(archive.treeDescription(maxDepth: 2).contains("hyper_parameters: <argparse.Namespace>"))
    #expect(archive.referencedGlobals.map(\.name) == ["argparse.Namespace"])
    #expect(archive.referencedGlobals.allSatisfy { !$0.isDangerous })
    // The NumPy array is a tensor too, so the root is ambiguous only if asked for: select it explicitly.
    let extra = try archive.table(select: "extra_array", stripPrefixes: [])
    #expect(extra.count == 1)
    #expect(try floatValues(#require(extra.entries.first?.tensor)) == [0, 1, 2, 3, 4, 5])
  }

  @Test func maliciousPickleIsNotExecuted() throws {
    let marker = "/tmp/graft-malicious-pickle-marker"
    FileSystem.remove(marker)
    let archive = try PyTorchCheckpoint.open(path: TestPaths.fixture("pytorch/malicious.pth"))
    let table = try archive.table(select: nil, stripPrefixes: [])
    try ExpectedTensors("pytorch/malicious.pth").check(table)
    let globals = Dictionary(uniqueKeysWithValues: archive.referencedGlobals.map { ($0.name, $0.isDangerous) })
    #expect(globals["posix.system"] == true)
    #expect(globals["builtins.eval"] == true)
    #expect(globals["subprocess.Popen"] == true)
    #expect(archive.treeDescription(maxDepth: 2).contains("payload: <posix.system>"))
    #expect(!FileSystem.exists(marker))
  }
}
