import GraftCore
import TestSupport

@testable import GraftFormats

/// Tables, tensors and byte surgery shared by the `.graft` tests.
enum GraftFileFixtures {
  /// Random bytes for a tensor of `dtype` and `shape`.
  static func tensor(_ dtype: DType, _ shape: [Int], seed: UInt64) -> Tensor {
    let count = dtype.byteCount(elements: Checked.product(shape) ?? 0) ?? 0
    var rng = SplitMix64(seed: seed)
    return Tensor(dtype: dtype, shape: shape, copying: (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
  }

  /// A table with one tensor of every dtype plus scalars, zero-size tensors, aliases, metadata and lineage.
  static func everything() throws -> TensorTable {
    var table = TensorTable()
    for (k, dtype) in DType.allCases.enumerated() {
      let shape = dtype.bitWidth < 8 ? [2, 4] : [3, 2]
      try table.append("t.\(dtype.rawValue)", tensor(dtype, shape, seed: UInt64(k)))
    }
    try table.append("scalar.f64", tensor(.float64, [], seed: 100))
    try table.append("scalar.f4pair", tensor(.float4E2M1, [2], seed: 101))
    try table.append("empty.f32", tensor(.float32, [0], seed: 102))
    try table.append("empty.3d", tensor(.bfloat16, [3, 0, 5], seed: 103))
    try table.append("embed.weight", tensor(.float16, [4, 8], seed: 104))
    try table.appendAlias("lm_head.weight", of: "embed.weight")
    try table.append("after.alias", tensor(.int8, [5], seed: 105))
    table.metadata = JSONObject([
      ("format", "pt"), ("b_first", .object(JSONObject([("z", 1), ("a", [1.5, "x", nil, true])]))),
      ("count", 7), ("big", .uint(UInt64.max)), ("neg", -3), ("ratio", 0.25), ("text", "héllo \"quoted\"\n"),
    ])
    table.lineage = [
      LineageRecord(
        operation: "convert", tool: "graft 0.1.0", parameters: ["from": "safetensors", "dtype": "keep"],
        inputs: ["xxh64:0123456789abcdef"], output: "xxh64:fedcba9876543210")
    ]
    return table
  }

  /// Checks that two tables hold the same entries, bytes, aliases, metadata and lineage, in the same order.
  static func assertEqual(_ a: TensorTable, _ b: TensorTable) throws -> Bool {
    guard a.names == b.names, a.metadata == b.metadata, a.lineage == b.lineage else { return false }
    for (x, y) in zip(a.entries, b.entries) {
      guard x.aliasOf == y.aliasOf, x.tensor.dtype == y.tensor.dtype, x.tensor.shape == y.tensor.shape,
        try x.tensor.readAllBytes() == y.tensor.readAllBytes()
      else { return false }
    }
    return true
  }

  /// Replaces a file's JSON index with `transform(index)` and rewrites the trailer with a correct header checksum.
  ///
  /// Lets a test forge a semantically bad index that still passes the checksum, to reach the deeper validation.
  static func reindex(_ file: [UInt8], _ transform: (String) -> String) -> [UInt8] {
    let n = file.count
    let offset = Int(littleEndian(file, n - 32))
    let length = Int(littleEndian(file, n - 24))
    let index = String(decoding: file[offset..<(offset + length)], as: UTF8.self)
    let newIndex = Array(transform(index).utf8)
    var out = Array(file[0..<offset]) + newIndex
    var trailer: [UInt8] = []
    for v in [UInt64(offset), UInt64(newIndex.count)] {
      for k in 0..<8 { trailer.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(k)))) }
    }
    let checksum = Array(out[0..<64]).withUnsafeBytes { p in
      newIndex.withUnsafeBytes { i in
        trailer.withUnsafeBytes { t in GraftFileHeader.headerChecksum(preamble: p, index: i, trailer: t) }
      }
    }
    for k in 0..<8 { trailer.append(UInt8(truncatingIfNeeded: checksum >> (8 * UInt64(k)))) }
    out += trailer + Array("GRAFTEND".utf8)
    return out
  }

  static func littleEndian(_ bytes: [UInt8], _ at: Int) -> UInt64 {
    (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[at + $1]) << (8 * UInt64($1)) }
  }

  /// Runs verify over bytes in memory (the same code path as ``GraftFile/verify(path:progress:)``).
  static func verify(_ bytes: [UInt8], file: String = "mem.graft") -> GraftFile.VerifyReport {
    bytes.withUnsafeBytes { GraftFileVerifier.verify($0, file: file, discard: nil, progress: nil) }
  }

  /// Parses the header of bytes in memory, returning the error if any.
  static func parseError(_ bytes: [UInt8], file: String = "mem.graft") -> GraftError? {
    bytes.withUnsafeBytes { raw -> GraftError? in
      do {
        _ = try GraftFileHeader.parse(raw, file: file)
        return nil
      } catch let error as GraftError {
        return error
      } catch {
        return GraftError(.io, "unexpected error \(error)")
      }
    }
  }
}
