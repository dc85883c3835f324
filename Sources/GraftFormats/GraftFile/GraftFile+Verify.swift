public import GraftCore

extension GraftFile {
  /// Validates a whole file: structure, header checksum, every tensor's checksum, padding and the content digest.
  ///
  /// Deflated tensors are also decompressed and their uncompressed digests checked. Every byte of the file is
  /// covered: the header checksum covers preamble, index and trailer; tensor checksums cover stored bytes; padding
  /// must be zero. Reading is sequential and bounded to one 8 MiB chunk (plus one block) of memory.
  ///
  /// - Returns: A report whose ``VerifyReport/problems`` lists everything wrong; a header that cannot be parsed is
  ///   one problem, since nothing after it can be located.
  /// - Throws: ``GraftError`` only when the file cannot be opened.
  public static func verify(path: String, progress: ProgressCounter? = nil) throws(GraftError) -> VerifyReport {
    let region = try MappedRegion(path: path)
    return GraftFileVerifier.verify(
      region.bytes, file: path, discard: { region.discardConsumed($0) }, progress: progress)
  }
}

/// The checks behind ``GraftFile/verify(path:progress:)``, over bytes so that tests can mutate a file in memory.
enum GraftFileVerifier {
  /// XXH64 of `bytes[range]` in chunks, dropping each chunk's pages after hashing when `discard` is given.
  static func hash(
    _ bytes: UnsafeRawBufferPointer, range: Range<Int>, discard: ((Range<Int>) -> Void)?,
    progress: ProgressCounter? = nil
  ) -> UInt64 {
    var h = XXHash64()
    var start = range.lowerBound
    while start < range.upperBound {
      let end = min(range.upperBound, start + GraftFileLayout.chunkSize)
      h.update(UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
      discard?(start..<end)
      progress?.advance(by: end - start)
      start = end
    }
    return h.finalize()
  }

  static func verify(
    _ bytes: UnsafeRawBufferPointer, file: String, discard: ((Range<Int>) -> Void)?, progress: ProgressCounter?
  ) -> GraftFile.VerifyReport {
    let header: GraftFileHeader
    do { header = try GraftFileHeader.parse(bytes, file: file) } catch {
      return GraftFile.VerifyReport(tensorsChecked: 0, bytesChecked: 0, problems: [error])
    }
    var problems: [GraftError] = []
    var tensorsChecked = 0
    var bytesChecked = 0
    let stored = header.entries.filter { $0.aliasTarget == nil }
    progress?.expect(stored.reduce(0) { $0 + $1.stored.storedLength })
    var digests: [String: UInt64] = [:]
    for entry in stored {
      let t = entry.stored
      let actual = hash(bytes, range: t.storedRange, discard: discard, progress: progress)
      tensorsChecked += 1
      bytesChecked += t.storedLength
      if actual != t.checksum {
        problems.append(
          GraftError(
            .checksumMismatch,
            "the \(t.storedLength) stored bytes hash to \(XXHash64.format(actual)) but the index says "
              + "\(XXHash64.format(t.checksum))", file: file, tensor: entry.name, byteOffset: t.offset))
      }
      let end = t.offset + t.storedLength
      let paddedEnd = GraftFileLayout.aligned(end) ?? end
      if let k = (end..<paddedEnd).first(where: { bytes[$0] != 0 }) {
        problems.append(
          GraftError(
            .invalidOffset, "padding byte after the tensor is 0x\(String(bytes[k], radix: 16)), expected zero",
            file: file, tensor: entry.name, byteOffset: k))
      }
      guard let layout = t.deflate else {
        digests[entry.name] = actual
        continue
      }
      do {
        digests[entry.name] = try deflatedDigest(bytes, t, layout: layout, file: file, name: entry.name)
        if digests[entry.name] != t.digest {
          problems.append(
            GraftError(
              .checksumMismatch,
              "the decompressed bytes hash to \(XXHash64.format(digests[entry.name] ?? 0)) but the index's digest "
                + "is \(XXHash64.format(t.digest))", file: file, tensor: entry.name, byteOffset: t.offset))
        }
      } catch {
        problems.append(error)
      }
    }
    let recomputed = GraftFileLayout.contentDigest(
      of: header.entries.map { e in
        let target = e.aliasTarget.map { header.entries[$0].name }
        return (e.name, e.stored.dtype, e.stored.shape, target, digests[target ?? e.name] ?? 0)
      })
    if problems.isEmpty && recomputed != header.contentDigest {
      problems.append(
        GraftError(
          .checksumMismatch,
          "the tensors' content digest is \(recomputed) but the index records \(header.contentDigest)", file: file,
          byteOffset: header.indexOffset))
    }
    return GraftFile.VerifyReport(tensorsChecked: tensorsChecked, bytesChecked: bytesChecked, problems: problems)
  }

  /// XXH64 of a deflated tensor's uncompressed bytes, decoded one chunk at a time.
  private static func deflatedDigest(
    _ bytes: UnsafeRawBufferPointer, _ t: GraftFileStoredTensor, layout: GraftFileDeflateLayout, file: String,
    name: String
  ) throws(GraftError) -> UInt64 {
    let chunk = max(layout.blockSize, GraftFileLayout.chunkSize / layout.blockSize * layout.blockSize)
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: min(chunk, t.byteCount), alignment: 64)
    defer { buffer.deallocate() }
    var h = XXHash64()
    var start = 0
    while start < t.byteCount {
      let end = min(t.byteCount, start + chunk)
      let view = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<(end - start)])
      try GraftFileDeflatedTensor.copy(
        t, layout: layout, fileBytes: bytes, range: start..<end, into: view, file: file, name: name)
      h.update(UnsafeRawBufferPointer(view))
      start = end
    }
    return h.finalize()
  }
}
