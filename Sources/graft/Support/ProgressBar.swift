import Graft
import Synchronization

/// Draws a one-line progress bar on standard error, only when it is a terminal and `--quiet` is not given.
final class ProgressBar: Sendable {
  private struct State {
    var lastDraw: UInt64 = 0
    var drawn = false
  }
  private let state = Mutex(State())
  private let label: String
  private let start = FileSystem.monotonicNanoseconds()

  /// Creates a bar, or returns `nil` when progress should stay silent.
  static func make(_ label: String, quiet: Bool) -> ProgressBar? {
    guard !quiet, FileSystem.isTerminal(2) else { return nil }
    return ProgressBar(label: label)
  }

  private init(label: String) { self.label = label }

  /// A counter whose updates redraw this bar (at most ten times a second).
  func counter() -> ProgressCounter {
    ProgressCounter { [self] done, total in self.update(done: done, total: total) }
  }

  private func update(done: Int, total: Int) {
    let now = FileSystem.monotonicNanoseconds()
    let shouldDraw = state.withLock { s -> Bool in
      if now - s.lastDraw < 100_000_000 && done < total { return false }
      s.lastDraw = now
      s.drawn = true
      return true
    }
    guard shouldDraw, total > 0 else { return }
    let fraction = min(1, Double(done) / Double(total))
    let width = 30
    let filled = Int(fraction * Double(width))
    let seconds = Double(now - start) / 1e9
    let rate = seconds > 0 ? Double(done) / seconds : 0
    let bar = String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled)
    FileSystem.writeToStandardError(
      "\r\(label) [\(bar)] \(Int(fraction * 100))% \(Format.bytes(done))/\(Format.bytes(total)) "
        + "\(Format.bytes(Int(rate)))/s   ")
  }

  /// Ends the bar's line.
  func finish() {
    if state.withLock({ $0.drawn }) { FileSystem.writeToStandardError("\n") }
  }
}
