/// A read-only memory mapping of a whole file, shared by every lazy tensor that points into it.
///
/// Opening costs a few microseconds regardless of file size; pages are read from the page cache only when
/// touched. A class, because many tensor views share one mapping and the last one to go unmaps it.
///
/// - Important: Never overwrite a file while it is mapped (the mapping would fault with SIGBUS). Graft's writers
///   always write a temporary file and rename it over the destination, which leaves existing mappings valid.
///
/// The corresponding C functions are `open`, `fstat` and `mmap(PROT_READ, MAP_PRIVATE)`.
public final class MappedRegion: @unchecked Sendable {
  // Invariant: immutable after init; the mapping is PROT_READ and never written through. Unmapped in deinit.
  /// The first byte of the mapping (a dummy non-null pointer for empty files).
  public let base: UnsafeRawPointer
  /// The length of the file in bytes.
  public let count: Int
  /// The file the region maps, for error messages.
  public let path: String
  private let isMapped: Bool
  /// The open descriptor, kept for in-kernel copies (``AtomicOutputFile/copy(from:range:)``); -1 for empty files.
  let descriptor: Int32

  /// Maps the file at `path` read-only.
  ///
  /// - Throws: ``GraftError`` with code `io` when the file cannot be opened or mapped, or is a directory.
  public init(path: String) throws(GraftError) {
    self.path = path
    let fd: Int32
    do {
      fd = try Syscalls.openReadOnly(path)
    } catch {
      let what = error.errno == Errno.noEntry ? "no such file" : "cannot open for reading"
      throw GraftError(.io, what, file: path, cause: error)
    }
    let status: Syscalls.FileStatus
    do { status = try Syscalls.fstat(fd) } catch {
      Syscalls.close(fd)
      throw GraftError(.io, "cannot stat", file: path, cause: error)
    }
    if status.isDirectory {
      Syscalls.close(fd)
      throw GraftError(.io, "is a directory, not a file", file: path)
    }
    count = status.size
    if count == 0 {
      // mmap of length 0 fails with EINVAL; an empty file has no bytes to point at.
      Syscalls.close(fd)
      base = UnsafeRawPointer(bitPattern: 0x40).unsafelyUnwrapped
      isMapped = false
      descriptor = -1
      return
    }
    do { base = try Syscalls.mapReadOnly(fd: fd, length: count) } catch {
      Syscalls.close(fd)
      throw GraftError(.io, "cannot map \(count) bytes", file: path, cause: error)
    }
    isMapped = true
    descriptor = fd
  }

  deinit {
    if isMapped { Syscalls.unmap(base, length: count) }
    if descriptor >= 0 { Syscalls.close(descriptor) }
  }

  /// All bytes of the file.
  public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

  /// The bytes in `range`, which must lie within the file.
  public func bytes(in range: Range<Int>) -> UnsafeRawBufferPointer {
    precondition(range.lowerBound >= 0 && range.upperBound <= count, "range outside the mapping")
    return UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count)
  }

  /// Tells the kernel that `range` will be read front to back soon.
  public func adviseSequential(_ range: Range<Int>) {
    guard isMapped else { return }
    Syscalls.advise(base: base, mappingLength: count, range: range, .sequential)
  }

  /// Drops this process's pages for `range` so they stop counting towards its resident size.
  ///
  /// The data stays in the page cache; touching it again re-faults it cheaply. Used while streaming large files
  /// so that peak RSS stays near one tensor rather than the whole file.
  public func discardPages(_ range: Range<Int>) {
    guard isMapped else { return }
    Syscalls.advise(base: base, mappingLength: count, range: range, .dontNeed)
  }

  /// Drops the pages of `range`, just consumed by a front-to-back reader, and those of up to 2 MiB before it (not
  /// before `floor`).
  ///
  /// The page cache holds large folios (up to 2 MiB), and a fault maps neighbours from the same folio, including
  /// pages behind the reader that it had already discarded. Without the trailing window those re-mapped pages stay
  /// resident: a BF16 cast of a 2 GB file peaked at 290 MB of file-backed RSS instead of 38 MB.
  public func discardConsumed(_ range: Range<Int>, floor: Int = 0) {
    discardPages(Swift.max(floor, range.lowerBound - (2 << 20))..<range.upperBound)
  }
}
