import Dispatch
import Synchronization

/// One piece of work running on another thread while the caller does something else, such as hashing a file's
/// bytes on the second core while the kernel copies them.
public final class BackgroundWork<Result: Sendable>: Sendable {
  /// A queue that runs its work one piece at a time, in submission order, on a thread of its own.
  public final class SerialQueue: Sendable {
    let queue: DispatchQueue

    /// Creates a queue; `label` names its thread in debuggers.
    public init(label: String) { queue = DispatchQueue(label: label) }
  }

  private let group = DispatchGroup()
  private let result = Mutex<Result?>(nil)

  /// Starts `work` on another thread (after the earlier work of `queue`, when given), or runs it now when only one
  /// thread may be used (``ParallelWork/threadCount``).
  public init(on queue: SerialQueue? = nil, _ work: @escaping @Sendable () -> Result) {
    guard ParallelWork.threadCount > 1 else {
      let value = work()
      result.withLock { $0 = value }
      return
    }
    group.enter()
    (queue?.queue ?? DispatchQueue.global(qos: .userInitiated)).async {
      let value = work()
      self.result.withLock { $0 = value }
      self.group.leave()
    }
  }

  /// The result if the work has finished, without waiting.
  public var finishedResult: Result? { result.withLock { $0 } }

  /// Waits for the work to finish and returns its result.
  public func wait() -> Result {
    group.wait()
    guard let value = result.withLock({ $0 }) else { preconditionFailure("background work finished without a result") }
    return value
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
