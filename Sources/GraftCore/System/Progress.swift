import Synchronization

/// A thread-safe counter of work done, which writers advance and the CLI turns into a progress bar.
///
/// Library code only counts; drawing (and deciding whether a terminal is attached) is the CLI's business.
public final class ProgressCounter: Sendable {
  private let state = Mutex<(done: Int, total: Int)>((0, 0))
  private let onChange: (@Sendable (_ done: Int, _ total: Int) -> Void)?

  /// Creates a counter that calls `onChange` after every update.
  public init(onChange: (@Sendable (_ done: Int, _ total: Int) -> Void)? = nil) { self.onChange = onChange }

  /// Adds to the expected total.
  public func expect(_ amount: Int) {
    let s = state.withLock { s in
      s.total += amount
      return s
    }
    onChange?(s.done, s.total)
  }

  /// Records `amount` units done.
  public func advance(by amount: Int) {
    let s = state.withLock { s in
      s.done += amount
      return s
    }
    onChange?(s.done, s.total)
  }

  /// The units done and expected so far.
  public var snapshot: (done: Int, total: Int) { state.withLock { $0 } }
}
