import Dispatch
import Synchronization

/// One piece of work running on another thread while the caller does something else, such as hashing a file's
/// bytes on the second core while the kernel copies them.
public final class BackgroundWork<Result: Sendable>: Sendable {
  private let group = DispatchGroup()
  private let result = Mutex<Result?>(nil)

  /// Starts `work` on another thread, or runs it now when only one thread may be used (``ParallelWork/threadCount``).
  public init(_ work: @escaping @Sendable () -> Result) {
    guard ParallelWork.threadCount > 1 else {
      let value = work()
      result.withLock { $0 = value }
      return
    }
    group.enter()
    DispatchQueue.global().async {
      let value = work()
      self.result.withLock { $0 = value }
      self.group.leave()
    }
  }

  /// Waits for the work to finish and returns its result.
  public func wait() -> Result {
    group.wait()
    guard let value = result.withLock({ $0 }) else { preconditionFailure("background work finished without a result") }
    return value
  }
}
