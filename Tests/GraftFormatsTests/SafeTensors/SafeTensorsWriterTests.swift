import GraftCore
import GraftFormats
import TestSupport
import Testing

@Suite struct SafeTensorsWriterTests {
  func written(_ table: TensorTable, options: SafeTensors.WriteOptions = .init()) throws -> [UInt8] {
    let folder = try TestPaths.scratchFolder("st-write")
    let path = folder + "/out.safetensors"
    _ = try SafeTensors.write(table, to: path, options: options)
    return try contents(path)
  }

  var noFormat: SafeTensors.WriteOptions {
    var o = SafeTensors.WriteOptions()
    o.addFormatKey = false
    return o
  }

  @Test func crateSerializationVectors() throws {
    // test_serialization: 64 bytes of JSON, no padding.
    var t = TensorTable()
    try t.append("attn.0", Tensor(float32: [0, 1, 2, 3, 4, 5], shape: [1, 2, 3]))
    let a = try written(t, options: noFormat)
    #expect(Array(a[0..<8]) == [64, 0, 0, 0, 0, 0, 0, 0])
    #expect(
      String(decoding: a[8..<72], as: UTF8.self)
        == "{\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],\"data_offsets\":[0,24]}}")
    #expect(a.count == 8 + 64 + 24)
    // test_serialization_forced_alignement: 65 chars padded with 7 spaces.
    var u = TensorTable()
    try u.append("attn0", Tensor(float32: [0, 1, 2, 3, 4, 5], shape: [1, 1, 2, 3]))
    let b = try written(u, options: noFormat)
    #expect(Array(b[0..<8]) == [72, 0, 0, 0, 0, 0, 0, 0])
    #expect(Array(b[73..<80]) == Array(repeating: 0x20, count: 7))
    #expect(
      Array(b[80...])
        == [Float](arrayLiteral: 0, 1, 2, 3, 4, 5).flatMap { v in
          withUnsafeBytes(of: v.bitPattern.littleEndian, Array.init)
        })
    // test_serialization_fp4: N = 64 with 4 spaces.
    var f = TensorTable()
    try f.append("attn.0", Tensor(dtype: .float4E2M1, shape: [1, 2], copying: [0x21]))
    let c = try written(f, options: noFormat)
    #expect(Array(c[0..<8]) == [64, 0, 0, 0, 0, 0, 0, 0] && c.count == 8 + 64 + 1)
    // test_empty: `{}` + 6 spaces; with metadata {"framework":"pt"}: N = 40.
    #expect(
      try written(TensorTable(), options: noFormat) == [8, 0, 0, 0, 0, 0, 0, 0, 0x7B, 0x7D]
        + Array(repeating: 0x20, count: 6))
    var m = TensorTable()
    m.metadata["framework"] = "pt"
    let d = try written(m, options: noFormat)
    #expect(
      d.count == 48 && String(decoding: d[8...], as: UTF8.self) == "{\"__metadata__\":{\"framework\":\"pt\"}}     ")
  }

  @Test func subByteAndSizeErrors() throws {
    let folder = try TestPaths.scratchFolder("st-write-errors")
    func error(_ table: TensorTable) -> GraftError? {
      do {
        _ = try SafeTensors.write(table, to: folder + "/x.safetensors")
        Issue.record("expected an error")
      } catch let e as GraftError { return e } catch { Issue.record("unexpected \(error)") }
      return nil
    }
    var misaligned = TensorTable()
    try misaligned.append("q", Tensor(dtype: .float4E2M1, shape: [1, 3], copying: [0, 0]))
    #expect(error(misaligned).flatMap(SafeTensors.CrateErrorKind.init) == .misalignedSlice)
    var wrongSize = TensorTable()
    try wrongSize.append("q", Tensor(dtype: .float4E2M1, shape: [1, 2], copying: [0, 0]))
    let view = error(wrongSize)
    #expect(view.flatMap(SafeTensors.CrateErrorKind.init) == .invalidTensorView)
    #expect(view?.message.hasPrefix("tensor of type F4 and shape (1, 2) can't be created from 2 bytes") == true)
    var complex = TensorTable()
    try complex.append("c", Tensor(dtype: .complex128, shape: [1], copying: Array(repeating: 0, count: 16)))
    let c128 = error(complex)
    #expect(c128?.code == .unsupportedDType && c128?.tensor == "c" && c128?.file == folder + "/x.safetensors")
    var reserved = TensorTable()
    try reserved.append("__metadata__", Tensor(float32: [1], shape: [1]))
    #expect(error(reserved)?.code == .invalidArgument)
    // Nothing was left behind: no output, no temporary files.
    #expect(try FileSystem.contents(of: folder).isEmpty)
  }

  @Test func headerTooLargeOnWrite() throws {
    // test_invalid_header_size_serialization: 100 MB of metadata.
    var t = TensorTable()
    t.metadata["big"] = .string(String(repeating: "a", count: SafeTensors.maximumHeaderLength))
    let folder = try TestPaths.scratchFolder("st-write-big")
    #expect {
      _ = try SafeTensors.write(t, to: folder + "/x.safetensors")
    } throws: { error in
      guard let e = error as? GraftError else { return false }
      return e.code == .limitExceeded && SafeTensors.CrateErrorKind(e) == .headerTooLarge
    }
    #expect(try FileSystem.contents(of: folder).isEmpty)
  }

  @Test(arguments: [
    "all_dtypes", "mixed_odd", "no_metadata", "zero_and_scalars", "empty", "empty_with_format",
    "metadata_escapes",
  ])
  func byteIdenticalToPython(name: String) throws {
    let cases = try manifest()
    let json = try #require(cases.first { $0["file"]?.stringValue == name + ".safetensors" })
    #expect(json["byteIdentical"] == true)
    var options = SafeTensors.WriteOptions()
    options.addFormatKey = json["addFormatKey"]?.boolValue ?? true
    // Reversed table order: the writer's own ordering must not depend on the input order.
    let table = try table(fromCase: json, reversed: true)
    let expected = try contents(TestPaths.fixture("safetensors/" + name + ".safetensors"))
    let actual = try written(table, options: options)
    #expect(actual == expected)
    if actual != expected {
      let n = min(actual.count, expected.count)
      let first = (0..<n).first { actual[$0] != expected[$0] } ?? n
      Issue.record("first difference at byte \(first): \(String(decoding: actual.prefix(200), as: UTF8.self))")
    }
  }

  @Test(arguments: [
    "all_dtypes", "mixed_odd", "no_metadata", "zero_and_scalars", "empty", "empty_with_format",
    "metadata_escapes", "metadata_many", "tied",
  ])
  func readThenWriteRoundTripsExactly(name: String) throws {
    let path = TestPaths.fixture("safetensors/" + name + ".safetensors")
    let table = try SafeTensors.read(path: path)
    // The CLI turns the format key off when the source carried safetensors metadata.
    let actual = try written(table, options: noFormat)
    #expect(actual == (try contents(path)))
  }

  @Test func readsPythonFilesWithTheirValues() throws {
    for json in try manifest() {
      guard let file = json["file"]?.stringValue else { continue }
      let table = try SafeTensors.read(path: TestPaths.fixture("safetensors/" + file))
      let expected = (json["tensors"]?.arrayValue ?? []).compactMap(ManifestTensor.init)
      #expect(Set(table.names) == Set(expected.map(\.name)), "\(file)")
      for t in expected {
        let tensor = try #require(table[t.name])
        #expect(tensor.dtype == t.dtype && tensor.shape == t.shape, "\(file) \(t.name)")
        #expect(try tensor.readAllBytes() == t.tensor.readAllBytes(), "\(file) \(t.name)")
      }
      let metadata = (json["metadata"]?.arrayValue ?? []).compactMap { $0.arrayValue?.first?.stringValue }
      #expect(Set(table.metadata.keys) == Set(metadata), "\(file)")
    }
  }

  @Test func aliasesAreRecordedOrDuplicated() throws {
    // Same bytes as safetensors.torch.save_model on a tied module.
    let fixture = try SafeTensors.read(path: TestPaths.fixture("safetensors/tied.safetensors"))
    #expect(fixture.metadata["lm_head.weight"] == "embed.weight")
    var table = TensorTable()
    try table.append(
      "embed.weight",
      Tensor(dtype: .float32, shape: [5, 3], copying: try #require(fixture["embed.weight"]).readAllBytes()))
    try table.appendAlias("lm_head.weight", of: "embed.weight")
    let folder = try TestPaths.scratchFolder("st-alias")
    let summary = try SafeTensors.write(table, to: folder + "/a.safetensors", options: noFormat)
    #expect(try contents(folder + "/a.safetensors") == contents(TestPaths.fixture("safetensors/tied.safetensors")))
    #expect(summary.storedTensorCount == 1 && summary.notes.count == 1)
    var duplicate = noFormat
    duplicate.aliasPolicy = .duplicate
    let twice = try SafeTensors.write(table, to: folder + "/b.safetensors", options: duplicate)
    #expect(twice.storedTensorCount == 2)
    let back = try SafeTensors.read(path: folder + "/b.safetensors")
    #expect(back.names == ["embed.weight", "lm_head.weight"] && back.metadata.isEmpty)
    #expect(try back["lm_head.weight"]?.readAllBytes() == back["embed.weight"]?.readAllBytes())
  }

  @Test func metadataOptions() throws {
    var table = TensorTable()
    try table.append("w", Tensor(float32: [1], shape: [1]))
    table.metadata["zeta"] = "1"
    table.metadata["alpha"] = .object(JSONObject([("n", 1), ("l", [true, nil])]))
    func header(_ options: SafeTensors.WriteOptions) throws -> JSONObject {
      let bytes = try written(table, options: options)
      let h = try bytes.withUnsafeBytes { raw in
        Result { () throws(GraftError) in try SafeTensors.parseHeader(raw, file: nil, options: .init()) }
      }.get()
      return try #require(h.metadata)
    }
    let defaults = try header(.init())
    #expect(defaults.keys == ["format", "zeta", "alpha"])
    #expect(defaults["alpha"] == "{\"n\":1,\"l\":[true,null]}")
    var sorted = SafeTensors.WriteOptions()
    sorted.sortMetadataKeys = true
    #expect(try header(sorted).keys == ["alpha", "format", "zeta"])
    table.metadata["format"] = "mlx"
    #expect(try header(.init())["format"] == "mlx")
  }

  @Test func streamsProducedBytesAndReportsProgress() throws {
    let count = 3 << 20
    var table = TensorTable()
    let produced = ProducedBytes(byteCount: count) { range, buffer in
      for (k, i) in range.enumerated() { buffer[k] = UInt8(truncatingIfNeeded: i &* 7) }
    }
    try table.append("big", Tensor(dtype: .uint8, shape: [count], bytes: produced))
    try table.append("small", Tensor(float32: [3], shape: [1]))
    let progress = ProgressCounter()
    let folder = try TestPaths.scratchFolder("st-stream")
    let summary = try SafeTensors.write(table, to: folder + "/s.safetensors", progress: progress)
    #expect(progress.snapshot.done == count + 4 && progress.snapshot.total == count + 4)
    #expect(summary.bytesWritten == (try FileSystem.size(of: folder + "/s.safetensors")))
    let back = try SafeTensors.read(path: folder + "/s.safetensors")
    let bytes = try #require(back["big"]).readAllBytes()
    #expect(bytes.count == count && bytes[12345] == UInt8(truncatingIfNeeded: 12345 &* 7))
    #expect(back.names == ["small", "big"])
  }

  @Test func rewritingAMappedInputIsSafe() throws {
    // test_serialize_to_file_same_path_with_active_mmap (#762): the old mapping stays valid.
    let folder = try TestPaths.scratchFolder("st-same-path")
    let path = folder + "/m.safetensors"
    var table = TensorTable()
    try table.append("w", Tensor(float32: [1, 2, 3], shape: [3]))
    _ = try SafeTensors.write(table, to: path)
    let mapped = try SafeTensors.read(path: path)
    var changed = mapped
    try changed.append("v", Tensor(float32: [9], shape: [1]))
    _ = try SafeTensors.write(changed, to: path)
    #expect(try floatValues(try #require(mapped["w"])) == [1, 2, 3])
    #expect(try SafeTensors.read(path: path).names == ["v", "w"])
    #expect(throws: GraftError.self) { try SafeTensors.write(mapped, to: path, inputs: [path]) }
  }
}
