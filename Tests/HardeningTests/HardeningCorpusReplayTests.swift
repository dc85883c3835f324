import Graft
import TestSupport
import Testing

/// Replays the fuzzing corpora (`Fuzz/Corpus/<target>/`, minimised with `libFuzzer -merge=1`) and every minimised
/// crash input (`Fuzz/Regressions/<target>/`) through the same calls the libFuzzer harnesses make,
/// without sanitizers: the CI-sized stand-in for `scripts/hardening/fuzz.sh smoke`.
///
/// Each input must either read or fail with a `GraftError`; a crash, trap or hang fails the whole test run.
@Suite("Fuzz corpora and crash regressions replay without crashing")
struct HardeningCorpusReplayTests {
  static let root = TestPaths.repositoryRoot

  /// The inputs of one target: corpus files and regression inputs.
  static func inputs(_ target: String) -> [String] {
    var paths: [String] = []
    for folder in [root + "/Fuzz/Corpus/" + target, root + "/Fuzz/Regressions/" + target] {
      for name in (try? FileSystem.contents(of: folder)) ?? [] where !name.hasPrefix(".") {
        paths.append(folder + "/" + name)
      }
    }
    return paths
  }

  /// Reads every byte of every stored tensor in chunks, as the harnesses do, up to 64 MiB per tensor (a fuzzed view may
  /// legitimately expand a few bytes to gigabytes, which the sanitizer build streams in seconds but a debug CI run
  /// would not).
  static func touch(_ table: TensorTable) -> Int {
    var n = 0
    for entry in table.entries where entry.tensor.byteCount <= 64 << 20 {
      do { try entry.tensor.forEachChunk(chunkSize: 1 << 20) { n &+= $0.count } } catch { n &+= 1 }
    }
    return n
  }

  /// An error other than `GraftError` from a reader is a bug (the readers promise typed errors).
  static func expectGraftError(_ body: () throws -> Void, _ input: String) {
    do { try body() } catch is GraftError {} catch { Issue.record("\(input): non-Graft error \(error)") }
  }

  @Test("every target has a corpus")
  func corporaExist() {
    for target in ["safetensors", "graft", "zip", "pickle", "numpy", "sharded", "hdf5", "json", "gguf"] {
      #expect(!Self.inputs(target).isEmpty, "no corpus for \(target)")
    }
  }

  @Test("safetensors, .graft, zip / .pth / .npz, pickle, .npy corpora")
  func fileFormats() throws {
    for input in Self.inputs("safetensors") {
      Self.expectGraftError({ _ = Self.touch(try SafeTensors.read(path: input)) }, input)
    }
    for input in Self.inputs("graft") {
      Self.expectGraftError({ _ = try GraftFile.info(path: input) }, input)
      var options = GraftFile.ReadOptions()
      options.verifyTensorChecksumsOnRead = true
      Self.expectGraftError({ _ = Self.touch(try GraftFile.read(path: input, options: options)) }, input)
      Self.expectGraftError({ _ = try GraftFile.verify(path: input) }, input)
    }
    for input in Self.inputs("zip") + Self.inputs("pickle") {
      Self.expectGraftError(
        {
          let zip = try ZipArchive(path: input)
          for entry in zip.entries.prefix(64) {
            _ = try? zip.verifyChecksum(entry)
            _ = try? zip.readSmallMember(entry, cap: 1 << 16)
          }
        }, input)
      Self.expectGraftError(
        {
          let archive = try PyTorchCheckpoint.open(path: input)
          _ = archive.treeDescription(maxDepth: 4)
          _ = Self.touch(try archive.table(select: nil, stripPrefixes: []))
        }, input)
    }
    for input in Self.inputs("numpy") + Self.inputs("zip") {
      Self.expectGraftError({ _ = try NumPyFormat.readNPY(path: input).byteCount }, input)
      Self.expectGraftError({ _ = Self.touch(try NumPyFormat.readNPZ(path: input)) }, input)
    }
  }

  @Test("sharded index corpus next to the real shards")
  func shardedIndexes() throws {
    let folder = try TestPaths.scratchFolder("replay-sharded")
    let shards = TestPaths.fixture("safetensors/sharded")
    for name in try FileSystem.contents(of: shards) where name.hasSuffix(".safetensors") {
      try FileSystem.writeAll(try FileSystem.readAll(shards + "/" + name), to: folder + "/" + name)
    }
    for input in Self.inputs("sharded") {
      try FileSystem.writeAll(try FileSystem.readAll(input), to: folder + "/model.safetensors.index.json")
      Self.expectGraftError({ _ = Self.touch(try SafeTensors.readSharded(path: folder)) }, input)
    }
  }

  @Test("GGUF corpus and regressions: parse, read with every tensor decoded, inspect, rewrite, read again")
  func gguf() throws {
    let scratch = try TestPaths.scratchFolder("fuzz-gguf")
    for input in Self.inputs("gguf") {
      let bytes = try FileSystem.readAll(input)
      Self.expectGraftError({ _ = try bytes.withUnsafeBytes { try GGUFFile.parse(bytes: $0) } }, input)
      Self.expectGraftError({ _ = try GGUFInspection.inspect(path: input).json.serialized() }, input)
      Self.expectGraftError(
        {
          let table = try GGUF.read(path: input)
          _ = Self.touch(table)
          try GGUF.write(table, to: scratch + "/copy.gguf")
          _ = Self.touch(try GGUF.read(path: scratch + "/copy.gguf"))
        }, input)
    }
  }

  @Test("JSON corpus: parse, serialise, parse again gives the same value")
  func json() throws {
    var options = JSONParser.Options()
    options.duplicateKeys = .keepLast
    for input in Self.inputs("json") {
      let bytes = try FileSystem.readAll(input)
      guard let value = try? bytes.withUnsafeBytes({ try JSONParser.parse($0, options: options) }) else { continue }
      let text = value.serialized()
      #expect((try? JSONParser.parse(text, options: options))?.serialized() == text, "\(input)")
    }
  }

  @Test("fuzz finding: stride-0 views of a tiny storage declaring 105 TiB / 1 PiB are refused, not streamed")
  func viewBombs() throws {
    // The two fuzzer inputs, and the minimised form (scripts/hardening/minimal_view_bomb.py: one 4-byte storage, one
    // 2^48-element view).
    for input in [
      "zip/view-bomb-tar-105TiB.pth", "pickle/view-bomb-tar-1PiB.pth", "pickle/view-bomb-tar-minimal.pth",
    ] {
      let path = Self.root + "/Fuzz/Regressions/" + input
      do {
        _ = try PyTorchCheckpoint.read(path: path)
        Issue.record("\(input): expected the view bomb to be refused")
      } catch {
        #expect(error.code == .limitExceeded, "\(input): \(error)")
      }
    }
  }

  @Test("fuzz finding: numbers beyond the double range are refused, not read as infinity (which has no JSON form)")
  func jsonOverflow() {
    for text in ["1e309", "-1e309", "[1" + String(repeating: "0", count: 400) + "]", "{\"a\":2.5e308}"] {
      do {
        let value = try JSONParser.parse(text)
        Issue.record("\(text.prefix(20)): parsed as \(value.serialized())")
      } catch {
        #expect(error.code == .invalidJSON && error.message.contains("out of range"), "\(error)")
      }
    }
    #expect((try? JSONParser.parse("1.7976931348623157e308")) != nil, "the largest double still parses")
  }

  @Test("HDF5 corpus through libhdf5", .enabled(if: HDF5Support.isAvailable))
  func hdf5() throws {
    for input in Self.inputs("hdf5") {
      Self.expectGraftError({ _ = Self.touch(try HDF5Checkpoint.read(path: input)) }, input)
      Self.expectGraftError({ _ = try HDF5Checkpoint.describe(path: input) }, input)
    }
  }
}
