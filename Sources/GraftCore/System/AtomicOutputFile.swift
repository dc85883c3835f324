/// A file written under a temporary name in the destination's folder and renamed into place on ``commit()``.
///
/// A crash, a full disk or an error before ``commit()`` never leaves a partial file at the destination: the
/// destination is either absent or the previous complete file. An uncommitted writer removes its temporary file
/// when it goes away. Temporary names start with `.graft-tmp-` so that a later run (or a person) can recognise the
/// leftovers of a killed process.
///
/// Writes are buffered (1 MiB) and go through `write(2)`; every 8 MiB written, write-back of those bytes starts
/// (`sync_file_range`), so the disk writes while the producer works; ``commit()`` flushes, `fsync`s the file (little
/// is left by then), renames it and `fsync`s the folder.
public struct AtomicOutputFile: ~Copyable {
  /// The final path.
  public let destination: String
  /// The temporary path being written.
  public let temporaryPath: String
  private let fd: Int32
  private var buffer: UnsafeMutableRawBufferPointer
  private var buffered = 0
  private var committed = false
  /// The temporary path's slot in ``TemporaryFiles``, so that a signal removes it.
  private let registration: Int?
  /// Cleared after the kernel refuses `copy_file_range` for this pair of files.
  private var copyFileRangeWorks = true
  /// Bytes written so far (including buffered ones).
  public private(set) var position = 0
  /// Bytes handed to the kernel so far.
  private var written = 0
  /// Bytes whose write-back has been started.
  private var writeBackStart = 0
  /// Bytes handed to the kernel between write-back requests.
  private static let writeBackChunk = 8 << 20

  /// The prefix of every temporary file name.
  public static let temporaryPrefix = ".graft-tmp-"

  /// Creates the temporary file next to `destination`.
  ///
  /// - Parameter inputs: Paths being read by the operation; writing to one of them is refused, because the
  ///   destination might be mapped by the very reader that feeds this writer.
  /// - Throws: ``GraftError`` (`invalidArgument` when the destination is an input, `io` otherwise).
  public init(destination: String, inputs: [String] = []) throws(GraftError) {
    // Everything is computed into locals first: a noncopyable value must be fully initialised or not at all.
    let temporary = try AtomicOutputFile.prepareTemporary(for: destination, inputs: inputs)
    // Registered before it exists, so that no signal can come between its creation and its registration.
    let registration = TemporaryFiles.register(temporary)
    let descriptor: Int32
    do { descriptor = try Syscalls.createExclusive(temporary) } catch {
      TemporaryFiles.unregister(registration)
      let reason =
        error.errno == Errno.accessDenied
        ? "the destination folder is not writable"
        : (error.errno == Errno.noEntry ? "the destination folder does not exist" : "cannot create the output")
      throw GraftError(.io, reason, file: destination, cause: error)
    }
    self.destination = destination
    self.temporaryPath = temporary
    self.registration = registration
    self.fd = descriptor
    self.buffer = .allocate(byteCount: 1 << 20, alignment: 64)
  }

  /// Writes `destination` atomically through a library that creates and writes the file itself (libhdf5).
  ///
  /// `body` gets a temporary path in the destination's folder that does not exist yet; it creates the file there,
  /// writes and closes it. The file is then fsynced and renamed into place and the folder fsynced, as in
  /// ``commit()``. The destination is checked as in ``init(destination:inputs:)``; on any error the temporary file
  /// is removed, the destination is untouched and a ``GraftError`` without a file gets `destination`.
  public static func withTemporaryPath<T>(
    destination: String, inputs: [String] = [], _ body: (_ temporaryPath: String) throws -> T
  ) throws -> T {
    let temporary = try prepareTemporary(for: destination, inputs: inputs)
    let registration = TemporaryFiles.register(temporary)
    defer { TemporaryFiles.unregister(registration) }
    do {
      let result = try body(temporary)
      let fd: Int32
      do { fd = try Syscalls.openReadOnly(temporary) } catch {
        throw GraftError(
          .io, "cannot open the finished output to sync it; the destination was not touched", file: destination,
          cause: error)
      }
      defer { Syscalls.close(fd) }
      try install(fd: fd, temporary: temporary, destination: destination)
      return result
    } catch let error as GraftError {
      Syscalls.unlink(temporary)
      throw error.inFile(destination)
    } catch {
      Syscalls.unlink(temporary)
      throw error
    }
  }

  /// Refuses a destination that is a directory or one of `inputs`, removes stale temporaries of the destination
  /// and returns a fresh temporary path next to it (not yet created).
  private static func prepareTemporary(for destination: String, inputs: [String]) throws(GraftError) -> String {
    if let status = try? Syscalls.stat(destination) {
      if status.isDirectory { throw GraftError(.invalidArgument, "the output path is a directory", file: destination) }
      for input in inputs {
        if let other = try? Syscalls.stat(input), other.device == status.device, other.inode == status.inode {
          throw GraftError(
            .invalidArgument, "the output path is the input '\(input)'; Graft never overwrites an input in place",
            file: destination)
        }
      }
    }
    let folder = AtomicOutputFile.folder(of: destination)
    let base = destination.split(separator: "/").last.map(String.init) ?? "out"
    let unique = String(Syscalls.randomBytes() & 0xFFFF_FFFF, radix: 16)
    // Before creating this run's file, so that a kill at any moment leaves at most one temporary per destination.
    AtomicOutputFile.removeStaleTemporaries(folder: folder, base: base)
    return folder + "/" + AtomicOutputFile.temporaryPrefix + "\(Syscalls.processID)-\(unique)-" + base
  }

  /// The end of every atomic write: fsyncs the finished temporary file and renames it into place, then fsyncs the
  /// folder so that the rename itself survives a crash.
  static func install(fd: Int32, temporary: String, destination: String) throws(GraftError) {
    do {
      try Syscalls.fsync(fd)
    } catch {
      throw GraftError(.io, "fsync failed; the destination was not touched", file: destination, cause: error)
    }
    try renameIntoPlace(temporary, destination)
  }

  /// Renames a finished, synced temporary file into place and fsyncs the folder, so the rename survives a crash.
  static func renameIntoPlace(_ temporary: String, _ destination: String) throws(GraftError) {
    do { try Syscalls.rename(temporary, destination) } catch {
      throw GraftError(.io, "cannot rename the finished output into place", file: destination, cause: error)
    }
    Syscalls.fsyncDirectory(AtomicOutputFile.folder(of: destination))
  }

  /// Removes the temporary files that killed writers of the same destination left in `folder`.
  ///
  /// A name `.graft-tmp-<pid>-<hex>-<base>` is stale when no process `<pid>` exists any more; files of live
  /// processes (this one included) are kept. Every writer calls this when it starts, so however many runs a crash or
  /// `kill -9` interrupts, at most the last one's temporary file remains.
  private static func removeStaleTemporaries(folder: String, base: String) {
    guard let names = try? Syscalls.listDirectory(folder) else { return }
    for name in names where name.hasPrefix(temporaryPrefix) && name.hasSuffix("-" + base) {
      let parts = name.dropFirst(temporaryPrefix.count).split(
        separator: "-", maxSplits: 2, omittingEmptySubsequences: false)
      guard parts.count == 3, parts[2] == base, let pid = Int32(parts[0]), pid > 0, UInt32(parts[1], radix: 16) != nil
      else { continue }
      if !Syscalls.processExists(pid) { Syscalls.unlink(folder + "/" + name) }
    }
  }

  deinit {
    buffer.deallocate()
    if !committed {
      Syscalls.close(fd)
      Syscalls.unlink(temporaryPath)
      TemporaryFiles.unregister(registration)
    }
  }

  /// The folder part of a path (`.` for a bare name).
  public static func folder(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
  }

  /// Appends bytes.
  public mutating func write(_ bytes: UnsafeRawBufferPointer) throws(GraftError) {
    position += bytes.count
    if buffered + bytes.count <= buffer.count {
      if let src = bytes.baseAddress, let dst = buffer.baseAddress {
        (dst + buffered).copyMemory(from: src, byteCount: bytes.count)
      }
      buffered += bytes.count
      return
    }
    try flush()
    if bytes.count >= buffer.count {
      try writeThrough(bytes)
    } else {
      if let src = bytes.baseAddress, let dst = buffer.baseAddress { dst.copyMemory(from: src, byteCount: bytes.count) }
      buffered = bytes.count
    }
  }

  /// Appends the bytes of an array.
  public mutating func write(_ bytes: [UInt8]) throws(GraftError) {
    let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 16)
    defer { copy.deallocate() }
    bytes.withUnsafeBytes { copy.copyMemory(from: $0) }
    try write(UnsafeRawBufferPointer(rebasing: copy[0..<bytes.count]))
  }

  /// Appends a string's UTF-8 bytes.
  public mutating func write(_ text: String) throws(GraftError) {
    try write(Array(text.utf8))
  }

  /// Appends `count` zero bytes.
  public mutating func writeZeros(_ count: Int) throws(GraftError) {
    var remaining = count
    let zeros = [UInt8](repeating: 0, count: min(count, 1 << 16))
    while remaining > 0 {
      let n = min(remaining, zeros.count)
      try write(Array(zeros[0..<n]))
      remaining -= n
    }
  }

  /// Appends `range` of a mapped file, copied inside the kernel when the file systems allow it.
  ///
  /// `copy_file_range` moves page-cache pages without a user-space copy or page faults on the mapping (measured on
  /// a 2 GB file: half the time of `write` from the mapping). Where the kernel refuses the pair of files (another
  /// file system type, an old kernel), the rest is written from the mapping as usual.
  public mutating func copy(from region: MappedRegion, range: Range<Int>) throws(GraftError) {
    precondition(range.lowerBound >= 0 && range.upperBound <= region.count, "range outside the mapping")
    try flush()
    var at = range.lowerBound
    while copyFileRangeWorks && region.descriptor >= 0 && at < range.upperBound {
      do {
        let n = try Syscalls.copyFileRange(
          from: region.descriptor, offset: at, to: fd, count: min(range.upperBound - at, 64 << 20))
        if n == 0 { break }
        at += n
        position += n
        written += n
        startWriteBack()
      } catch {
        guard Syscalls.refusesCopyFileRange(error) else { throw writeFailure(error) }
        copyFileRangeWorks = false
      }
    }
    if at < range.upperBound {
      let rest = region.bytes(in: at..<range.upperBound)
      position += rest.count
      try writeThrough(rest)
    }
  }

  /// Gives direct access to free space in the internal buffer.
  ///
  /// For producers that generate bytes in place (casts, checksums) without an extra copy. `body` returns how many bytes it produced (≤ the buffer's size).
  public mutating func withStagingBuffer(
    minimumCount: Int, _ body: (UnsafeMutableRawBufferPointer) throws(GraftError) -> Int
  ) throws(GraftError) {
    if buffer.count - buffered < minimumCount { try flush() }
    let free = UnsafeMutableRawBufferPointer(rebasing: buffer[buffered...])
    let produced = try body(free)
    buffered += produced
    position += produced
  }

  private mutating func flush() throws(GraftError) {
    guard buffered > 0 else { return }
    try writeThrough(UnsafeRawBufferPointer(rebasing: buffer[0..<buffered]))
    buffered = 0
  }

  private mutating func writeThrough(_ bytes: UnsafeRawBufferPointer) throws(GraftError) {
    var at = 0
    // Large writes go in write-back-sized pieces, so write-back starts while the rest is still being copied.
    while at < bytes.count {
      let piece = UnsafeRawBufferPointer(rebasing: bytes[at..<min(bytes.count, at + Self.writeBackChunk)])
      do { try Syscalls.writeAll(fd, piece) } catch { throw writeFailure(error) }
      at += piece.count
      written += piece.count
      startWriteBack()
    }
  }

  /// Starts write-back of what reached the kernel since the last request, once that is a chunk's worth.
  private mutating func startWriteBack() {
    guard written - writeBackStart >= Self.writeBackChunk else { return }
    Syscalls.startWriteBack(fd, offset: writeBackStart, count: written - writeBackStart)
    writeBackStart = written
  }

  private func writeFailure(_ error: SystemError) -> GraftError {
    let reason = error.errno == Errno.noSpace ? "no space left on device" : "write failed"
    return GraftError(.io, reason + "; the destination was not touched", file: destination, cause: error)
  }

  /// Flushes, syncs and renames the file into place.
  public consuming func commit() throws(GraftError) {
    try flush()
    try AtomicOutputFile.install(fd: fd, temporary: temporaryPath, destination: destination)
    committed = true
    Syscalls.close(fd)
    TemporaryFiles.unregister(registration)
  }

  /// Flushes and syncs the file but leaves it under its temporary name, for a writer that puts several files in
  /// place together (the shards of a checkpoint) once all of them are complete.
  public consuming func stage() throws(GraftError) -> StagedOutputFile {
    try flush()
    do { try Syscalls.fsync(fd) } catch {
      throw GraftError(.io, "fsync failed; the destination was not touched", file: destination, cause: error)
    }
    committed = true
    Syscalls.close(fd)
    return StagedOutputFile(temporaryPath: temporaryPath, destination: destination, registration: registration)
  }
}

/// File-system helpers for the layers above the core, so that they need no C library imports.
public enum FileSystem {
  /// Whether a path exists and is a directory.
  public static func isDirectory(_ path: String) -> Bool { (try? Syscalls.stat(path))?.isDirectory ?? false }
  /// Whether a path exists.
  public static func exists(_ path: String) -> Bool { (try? Syscalls.stat(path)) != nil }
  /// The size of a file in bytes.
  public static func size(of path: String) throws(GraftError) -> Int {
    do { return try Syscalls.stat(path).size } catch { throw GraftError(.io, "cannot stat", file: path, cause: error) }
  }
  /// The sorted entry names of a folder.
  public static func contents(of folder: String) throws(GraftError) -> [String] {
    do { return try Syscalls.listDirectory(folder) } catch {
      throw GraftError(.io, "cannot list the folder", file: folder, cause: error)
    }
  }
  /// Creates a folder (no error when it exists).
  public static func makeDirectory(_ path: String) throws(GraftError) {
    do { try Syscalls.makeDirectory(path) } catch {
      throw GraftError(.io, "cannot create folder", file: path, cause: error)
    }
  }
  /// Removes a file, ignoring errors.
  public static func remove(_ path: String) { Syscalls.unlink(path) }
  /// Removes an empty folder, ignoring errors (a folder that is not empty stays).
  public static func removeEmptyDirectory(_ path: String) { Syscalls.rmdir(path) }
  /// Whether two paths name the same file.
  public static func isSameFile(_ a: String, _ b: String) -> Bool {
    guard let x = try? Syscalls.stat(a), let y = try? Syscalls.stat(b) else { return false }
    return x.device == y.device && x.inode == y.inode
  }
  /// Reads a whole (small) file into memory.
  public static func readAll(_ path: String) throws(GraftError) -> [UInt8] {
    let region = try MappedRegion(path: path)
    return Array(region.bytes)
  }

  /// Reads a whole file of at most `limit` bytes (an untrusted input's cap).
  ///
  /// - Throws: `limitExceeded` at byte offset 0 naming `what`, before anything is read, when the file is larger.
  public static func readAll(_ path: String, limit: Int, what: String) throws(GraftError) -> [UInt8] {
    let size = try size(of: path)
    guard size <= limit else {
      throw GraftError(.limitExceeded, "\(what) is \(size) bytes; the limit is \(limit)", file: path, byteOffset: 0)
    }
    return try readAll(path)
  }
  /// Writes a whole (small) file atomically.
  public static func writeAll(_ bytes: [UInt8], to path: String, inputs: [String] = []) throws(GraftError) {
    var out = try AtomicOutputFile(destination: path, inputs: inputs)
    try out.write(bytes)
    try out.commit()
  }
  /// An environment variable.
  public static func environment(_ name: String) -> String? { Syscalls.environment(name) }
  /// Whether a file descriptor is a terminal.
  public static func isTerminal(_ fd: Int32) -> Bool { Syscalls.isTerminal(fd) }
  /// Peak resident set size of this process in bytes.
  public static func peakResidentBytes() -> Int { Syscalls.peakResidentBytes() }
  /// A monotonic clock reading in nanoseconds.
  public static func monotonicNanoseconds() -> UInt64 { Syscalls.monotonicNanoseconds() }
  /// Writes text to standard error, unbuffered.
  public static func writeToStandardError(_ text: String) { Syscalls.writeToStandardError(text) }
}
