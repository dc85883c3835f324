import GraftCore
import GraftFormats
import TestSupport
import Testing

/// Builds a safetensors file from header text and data bytes; `length` overrides the 8-byte prefix.
func safetensorsFile(_ header: String, data: [UInt8] = [], length: UInt64? = nil) -> [UInt8] {
  let json = Array(header.utf8)
  var bytes: [UInt8] = []
  withUnsafeBytes(of: (length ?? UInt64(json.count)).littleEndian) { bytes.append(contentsOf: $0) }
  return bytes + json + data
}

/// Parses whole-file bytes with `SafeTensors.parseHeader`.
func parse(
  _ bytes: [UInt8], options: SafeTensors.ReadOptions = .init()
) -> Result<SafeTensors.Header, GraftError> {
  bytes.withUnsafeBytes { raw in
    Result { () throws(GraftError) in try SafeTensors.parseHeader(raw, file: "mem.safetensors", options: options) }
  }
}

/// Parses and returns the error, recording a failure when parsing succeeds.
func parseError(
  _ bytes: [UInt8], options: SafeTensors.ReadOptions = .init(), sourceLocation: SourceLocation = #_sourceLocation
) -> GraftError? {
  switch parse(bytes, options: options) {
  case .success:
    Issue.record("expected an error", sourceLocation: sourceLocation)
    return nil
  case .failure(let error): return error
  }
}

/// The fixture formula shared with `scripts/fixtures/safetensors.py`.
func patternBytes(dtype: DType, count: Int, seed: Int) -> [UInt8] {
  (0..<count).map { i in
    dtype == .bool ? UInt8((i + seed) % 2) : UInt8((i * 131 + seed * 17 + 7) % 256)
  }
}

/// One tensor of the fixture manifest.
struct ManifestTensor {
  var name: String
  var dtype: DType
  var shape: [Int]
  var seed: Int

  init?(_ json: JSONValue) {
    guard let name = json["name"]?.stringValue, let dtypeName = json["dtype"]?.stringValue,
      let dtype = DType(rawValue: dtypeName), let dims = json["shape"]?.arrayValue, let seed = json["seed"]?.intValue
    else { return nil }
    self.name = name
    self.dtype = dtype
    self.shape = dims.compactMap(\.intValue)
    self.seed = seed
  }

  var tensor: Tensor {
    let count = dtype.byteCount(elements: Checked.product(shape) ?? 0) ?? 0
    return Tensor(dtype: dtype, shape: shape, copying: patternBytes(dtype: dtype, count: count, seed: seed))
  }
}

/// `Fixtures/safetensors/manifest.json`.
func manifest() throws -> [JSONValue] {
  let bytes = try FileSystem.readAll(TestPaths.fixture("safetensors/manifest.json"))
  let root = try bytes.withUnsafeBytes { raw in
    Result { () throws(GraftError) in try JSONParser.parse(raw) }
  }.get()
  return root.arrayValue ?? []
}

/// Builds a table from a manifest case: tensors in the given order, metadata pairs in order, aliases.
func table(fromCase json: JSONValue, reversed: Bool = false) throws -> TensorTable {
  var table = TensorTable()
  var tensors = (json["tensors"]?.arrayValue ?? []).compactMap(ManifestTensor.init)
  if reversed { tensors.reverse() }
  for t in tensors { try table.append(t.name, t.tensor) }
  for pair in json["aliases"]?.arrayValue ?? [] {
    guard let a = pair.arrayValue, a.count == 2, let alias = a[0].stringValue, let target = a[1].stringValue else {
      continue
    }
    try table.appendAlias(alias, of: target)
  }
  for pair in json["metadata"]?.arrayValue ?? [] {
    guard let a = pair.arrayValue, a.count == 2, let key = a[0].stringValue else { continue }
    table.metadata[key] = a[1]
  }
  return table
}

/// Reads a whole file.
func contents(_ path: String) throws -> [UInt8] { try FileSystem.readAll(path) }

/// Copies a file.
func copyFile(_ from: String, _ to: String) throws { try FileSystem.writeAll(try contents(from), to: to) }
