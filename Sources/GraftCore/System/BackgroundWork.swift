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
    (queue?.queue ?? DispatchQueue.global()).async {
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
