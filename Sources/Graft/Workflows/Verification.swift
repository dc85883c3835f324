/// The outcome of `graft verify`: full structural validation plus a read of every byte.
public struct VerificationReport: Sendable {
  /// The detected format.
  public var detection: FormatDetector.Detection
  /// Tensors whose bytes were read.
  public var tensorsChecked = 0
  /// Bytes read.
  public var bytesChecked = 0
  /// Problems found (an empty list means the file is valid).
  public var problems: [String] = []
  /// Floating-point tensors holding NaN or ±inf, with counts (reported, not errors).
  public var nonFinite: [(name: String, nan: Int, inf: Int)] = []
  /// Whether checksums were checked (only `.graft` files carry them).
  public var checksumsChecked = false

  /// Whether no problem was found.
  public var isValid: Bool { problems.isEmpty }

  /// Verifies a checkpoint: parses it strictly (the reader validates every header rule), checks `.graft` checksums,
  /// then reads every tensor's bytes and counts non-finite values.
  public static func verify(path: String, progress: ProgressCounter? = nil) throws -> VerificationReport {
    let detection = try Checkpoint.detect(path: path)
    var report = VerificationReport(detection: detection)
    if detection.format == .graft {
      let native = try GraftFile.verify(path: path, progress: nil)
      report.checksumsChecked = true
      report.problems.append(contentsOf: native.problems.map(\.description))
      if !native.isValid { return report }
    }
    let table: TensorTable
    do { table = try Checkpoint.read(path: path) } catch let error as GraftError {
      report.problems.append(error.description)
      return report
    }
    progress?.expect(table.storedByteCount)
    for entry in table.storedEntries {
      let t = entry.tensor
      var nan = 0
      var inf = 0
      do {
        if t.dtype.isFloatingPoint && t.dtype.isNumeric {
          let count = t.elementCount
          var start = 0
          while start < count {
            let n = min(1 << 20, count - start)
            for v in try CheckpointDiff.decodeElements(t, start, n) {
              if v.isNaN { nan += 1 } else if v.isInfinite { inf += 1 }
            }
            start += n
          }
        } else {
          // Mapped chunks are handed out without being touched; hashing them makes the kernel read every byte, so a
          // short read, an I/O error or a truncated mapping surfaces here rather than in a later conversion.
          var hash = XXHash64()
          try t.forEachChunk { hash.update($0) }
          _ = hash.finalize()
        }
      } catch {
        report.problems.append("tensor '\(entry.name)': \(error)")
        continue
      }
      report.tensorsChecked += 1
      report.bytesChecked += t.byteCount
      progress?.advance(by: t.byteCount)
      if nan + inf > 0 { report.nonFinite.append((entry.name, nan, inf)) }
    }
    return report
  }

  /// A readable summary.
  public func render() -> String {
    var lines: [String] = []
    lines.append(
      "\(detection.detail): \(tensorsChecked) tensors, \(Format.bytes(bytesChecked)) read"
        + (checksumsChecked ? ", checksums verified" : ""))
    for n in nonFinite { lines.append("note: \(n.name) holds \(n.nan) NaN and \(n.inf) infinite values") }
    for p in problems { lines.append("PROBLEM: \(p)") }
    lines.append(isValid ? "OK" : "INVALID (\(problems.count) problem\(problems.count == 1 ? "" : "s"))")
    return lines.joined(separator: "\n")
  }
}

extension VerificationReport {
  /// The verification as data.
  public var json: JSONValue {
    var o = JSONObject()
    o["valid"] = .bool(isValid)
    o["format"] = .string(detection.format.rawValue)
    o["tensors_checked"] = .integer(tensorsChecked)
    o["bytes_checked"] = .integer(bytesChecked)
    o["checksums_checked"] = .bool(checksumsChecked)
    o["problems"] = .array(problems.map(JSONValue.string))
    o["non_finite"] = .array(
      nonFinite.map {
        .object(JSONObject([("tensor", .string($0.name)), ("nan", .integer($0.nan)), ("inf", .integer($0.inf))]))
      })
    return .object(o)
  }
}
