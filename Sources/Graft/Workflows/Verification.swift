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
  /// Whether checksums were checked: `.graft` tensor checksums, the CRC-32 of every zip member (`.pth`, `.npz`);
  /// HDF5 filter checksums (Fletcher-32) are checked by libhdf5 as every byte is read.
  public var checksumsChecked = false
  /// The number of checksums that did not match (each is also in ``problems``).
  public var checksumMismatches = 0

  /// Whether no problem was found.
  public var isValid: Bool { problems.isEmpty }

  /// Verifies a checkpoint: parses it strictly (the reader validates every header rule), checks `.graft` checksums
  /// and the CRC-32 of every zip member, then reads every tensor's bytes and counts non-finite values.
  ///
  /// - Throws: the reader's ``GraftError`` when the checkpoint cannot be parsed at all (a truncated file, a broken
  ///   header): there is nothing to verify, and the input is invalid. Damage found in a readable file (a checksum
  ///   mismatch, a tensor that cannot be read) is a problem in the report.
  public static func verify(path: String, progress: ProgressCounter? = nil) throws -> VerificationReport {
    let detection = try Checkpoint.detect(path: path)
    var report = VerificationReport(detection: detection)
    if detection.format == .graft {
      // The header is parsed first: a file whose structure is broken is an error, not a list of checksum problems.
      do { _ = try GraftFile.info(path: detection.readerPath) } catch { throw error.on(.input) }
      let native = try GraftFile.verify(path: detection.readerPath, progress: nil)
      report.checksumsChecked = true
      report.checksumMismatches = native.problems.filter { $0.code == .checksumMismatch }.count
      report.problems.append(contentsOf: native.problems.map(\.description))
      if !native.isValid { return report }
    }
    let table: TensorTable
    if detection.format == .graft {
      // Every checksum was just verified; checking them again on read would hash the whole file a second time.
      var unchecked = GraftFile.ReadOptions()
      unchecked.verifyTensorChecksumsOnRead = false
      table = try GraftFile.read(path: detection.readerPath, options: unchecked)
    } else {
      table = try Checkpoint.read(path: path)
    }
    for file in try Inspection.checkpointFiles(detection) where isZip(file) {
      let archive = try ZipArchive(path: file)
      for entry in archive.entries {
        do { try archive.verifyChecksum(entry) } catch {
          if error.code == .checksumMismatch { report.checksumMismatches += 1 }
          report.problems.append(error.description)
        }
      }
      report.checksumsChecked = true
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
        + (!checksumsChecked
          ? ""
          : checksumMismatches == 0
            ? ", checksums verified"
            : ", \(checksumMismatches) checksum mismatch\(checksumMismatches == 1 ? "" : "es")"))
    for n in nonFinite { lines.append("note: \(n.name) holds \(n.nan) NaN and \(n.inf) infinite values") }
    for p in problems { lines.append("PROBLEM: \(p)") }
    lines.append(isValid ? "OK" : "INVALID (\(problems.count) problem\(problems.count == 1 ? "" : "s"))")
    return lines.joined(separator: "\n")
  }
}

extension VerificationReport {
  /// Whether a file is a zip archive (a `.pth` of torch ≥ 1.6, an `.npz`), whose members carry CRC-32s.
  static func isZip(_ path: String) -> Bool {
    guard let region = try? MappedRegion(path: path) else { return false }
    return ZipArchive.looksLikeZip(region.bytes)
  }

  /// The verification as data.
  public var json: JSONValue {
    var o = JSONObject()
    o["valid"] = .bool(isValid)
    o["format"] = .string(detection.format.rawValue)
    o["tensors_checked"] = .integer(tensorsChecked)
    o["bytes_checked"] = .integer(bytesChecked)
    o["checksums_checked"] = .bool(checksumsChecked)
    o["checksum_mismatches"] = .integer(checksumMismatches)
    o["problems"] = .array(problems.map(JSONValue.string))
    o["non_finite"] = .array(
      nonFinite.map {
        .object(JSONObject([("tensor", .string($0.name)), ("nan", .integer($0.nan)), ("inf", .integer($0.inf))]))
      })
    return .object(o)
  }
}
