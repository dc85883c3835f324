import GraftCore
import GraftFormats
import TestSupport
import Testing

/// Exports Graft-written GGUF files and a manifest for `scripts/interop/check_gguf.py` (gguf-py's `GGUFReader`).
///
/// The files go to `$GRAFT_INTEROP_DIR`; without it to a scratch folder, so the test still checks that every export
/// writes and reads back. The manifest's expected tensor bytes are computed here from the source values (copied, or
/// encoded with ``GGUFQuantize``), independently of the writer's layout code.
@Suite("GGUF interop export")
struct GGUFInteropExportTests {
  static func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count * 2)
    for b in bytes {
      out.append(digits[Int(b >> 4)])
      out.append(digits[Int(b & 15)])
    }
    return String(decoding: out, as: UTF8.self)
  }

  /// The bytes a tensor should be stored as.
  static func expectedBytes(_ tensor: Tensor, _ type: GGMLType) throws -> [UInt8] {
    if let q = tensor.quantization, q.format.code == Int(type.rawValue) {
      return try Tensor(dtype: .uint8, shape: [q.blocks.byteCount], bytes: q.blocks).readAllBytes()
    }
    if !tensor.isQuantized && type.plainDType == tensor.dtype { return try tensor.readAllBytes() }
    return try quantize(try floatValues(try tensor.dequantized(to: .float32)), as: type)
  }

  @Test("export Graft-written GGUF files with a manifest for gguf-py")
  func export() throws {
    let folder = try FileSystem.environment("GRAFT_INTEROP_DIR") ?? TestPaths.scratchFolder("gguf-interop")
    try FileSystem.makeDirectory(folder)
    var manifest = JSONObject()
    let source = GGUFWriterTests.llamaTable(layers: 1)
    let targets: [(String, GGUF.Target, Int?)] = [
      ("f32.gguf", .type(.f32), nil), ("f16.gguf", .type(.f16), nil), ("bf16.gguf", .type(.bf16), nil),
      ("q8_0.gguf", .type(.q8_0), nil), ("q4_0.gguf", .type(.q4_0), nil), ("q4_k.gguf", .type(.q4_K), nil),
      ("q6_k.gguf", .type(.q6_K), nil), ("q4_k_m.gguf", .q4_K_M, nil), ("split.gguf", .type(.q8_0), 200_000),
    ]
    for (name, target, split) in targets {
      var options = GGUF.TableWriteOptions()
      options.target = target
      options.layout.splitMaxBytes = split
      let summary = try GGUF.write(source, to: folder + "/" + name, options: options)
      let files = try GGUF.openAll(path: summary.files[0])
      #expect(files.count == (split == nil ? 1 : summary.files.count))
      var tensors: [JSONValue] = []
      for file in files {
        for info in file.tensors {
          let original = try #require(source[info.name])
          var t = JSONObject()
          t["file"] = .string(file.path.split(separator: "/").last.map(String.init) ?? file.path)
          t["name"] = .string(info.name)
          t["type"] = .string(info.type.name)
          t["dims"] = .array(info.dimensions.map { .integer($0) })
          t["hex"] = .string(Self.hex(try Self.expectedBytes(original, info.type)))
          if info.type.isQuantized { t["source_f32_hex"] = .string(Self.hex(try original.readAllBytes())) }
          tensors.append(.object(t))
        }
      }
      var kvs = JSONObject()
      for kv in files[0].keyValues { kvs[kv.key] = ["type": kv.value.typeDescriptor, "value": kv.value.json] }
      manifest[name] = [
        "files": .array(summary.files.map { .string($0.split(separator: "/").last.map(String.init) ?? $0) }),
        "metadata": .object(kvs), "tensors": .array(tensors),
      ]
    }
    try FileSystem.writeAll(JSONValue.object(manifest).serializedBytes(.compact), to: folder + "/manifest.json")
  }
}
