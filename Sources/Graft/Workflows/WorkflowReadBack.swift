/// The check that a written checkpoint holds what was meant: read it back and compare every tensor's bytes.
enum WorkflowReadBack {
  /// Reads `path` back and compares each tensor of `expected` by dtype, shape and xxh64 of its bytes, in a one-row
  /// report of `kind` whose `value` column counts the differences.
  ///
  /// - Parameter nestedUnder: for `.pth` outputs nested under a key (`{"model": …}`), that key.
  static func compare(
    _ path: String, expected: TensorTable, nestedUnder: String?, kind: String, columns: [CheckReport.Column]
  ) throws -> CheckReport {
    var o = Checkpoint.ReadOptions()
    if try Checkpoint.detect(path: path).format == .pytorch { o.select = nestedUnder ?? "" }
    let back = try Checkpoint.read(path: path, options: o)
    var identical = 0
    var bad: [String] = []
    var aliasesDropped = 0
    for e in expected.entries {
      // safetensors keeps one name per storage (save_model's convention); the dropped alias must have its target.
      if back[e.name] == nil, let target = e.aliasOf, back[target] != nil {
        aliasesDropped += 1
        continue
      }
      guard let t = back[e.name], t.dtype == e.tensor.dtype, t.shape == e.tensor.shape,
        try t.contentHash() == e.tensor.contentHash()
      else {
        bad.append(e.name)
        continue
      }
      identical += 1
    }
    let extra = back.count - (expected.count - bad.count - aliasesDropped)
    var note =
      "\(identical)/\(expected.count) tensors byte-identical (xxh64), \(back.aliases.count) aliases stored once "
      + "(\(Format.bytes(back.storedByteCount)) of tensor data)"
    if aliasesDropped > 0 {
      note +=
        "; \(aliasesDropped) aliases are not stored by this format (one name per storage): write .pth or .graft to "
        + "keep every name (a strict load, such as detrex's, needs them)"
    }
    if !bad.isEmpty { note += "; missing or different: \(bad.prefix(5).joined(separator: ", "))" }
    if extra != 0 { note += "; \(extra) unexpected tensors" }
    var report = CheckReport(kind: kind, columns: columns)
    report.rows.append(
      CheckReport.Row(
        "read back", bad.isEmpty && extra == 0 ? .passed : .failed, ["value": .integer(bad.count + abs(extra))],
        note: note))
    return report
  }
}
