import Dispatch

/// A computation started on another processor and collected later, so a writer can checksum bytes on the second core
/// while the kernel copies the same bytes to disk (`copy_file_range`) on the first.
///
/// With one processor (`GRAFT_THREADS=1` or a single CPU) the work runs inline in ``init(_:)``.
final class BackgroundWork<Result: Sendable>: @unchecked Sendable {
  // Invariant: `result` is written once, by the worker, before it signals `done`; it is read only after `wait()`
  // consumed that signal, so the semaphore orders the two accesses.
  private var result: Result?
  private let done = DispatchSemaphore(value: 0)

  /// Starts `body` on a global queue (or runs it now on a single processor).
  init(_ body: @escaping @Sendable () -> Result) {
    guard ParallelWork.threadCount > 1 else {
      result = body()
      done.signal()
      return
    }
    DispatchQueue.global(qos: .userInitiated).async {
      self.result = body()
      self.done.signal()
    }
  }

  /// Waits for the result.
  ///
  /// Call exactly once, and always, even on an error path: the work may read memory the caller owns.
  func wait() -> Result {
    done.wait()
    return result.unsafelyUnwrapped
  }
}

/// A read-only byte range handed to a ``BackgroundWork``.
///
/// Invariant: the memory stays mapped and unchanged until the work's `wait()` returns.
struct SharedBytes: @unchecked Sendable {
  // Invariant: see above.
  let bytes: UnsafeRawBufferPointer
  init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }
}

/// Starts write-back of a file that another library writes (libhdf5), so its final `fsync` has little left.
///
/// Opens the file read-only: `sync_file_range` acts on the file's pages, whichever descriptor names them.
package struct WriteBackHint: ~Copyable {
  private let fd: Int32

  /// Opens `path`; a file that cannot be opened just gets no hints.
  package init(path: String) { fd = (try? Syscalls.openReadOnly(path)) ?? -1 }

  /// Starts write-back of every dirty page of the file written so far.
  package func start() {
    if fd >= 0 { Syscalls.startWriteBack(fd, offset: 0, count: 0) }
  }

  deinit { if fd >= 0 { Syscalls.close(fd) } }
}
