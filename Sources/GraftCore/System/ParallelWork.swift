import Dispatch

/// Runs independent parts of a job on all processors, for format code (quantizing a GGUF tensor) that must not
/// depend on the engine's spinning ``WorkerPool``.
///
/// Parts here are large (a megabyte of rows each), so Dispatch's thread wake-up latency is noise and
/// `concurrentPerform` is enough.
public enum ParallelWork {
  /// `GRAFT_THREADS` when it is a positive integer, else the processors this process may run on: the one setting
  /// of every thread count in Graft (the engine's worker pool is sized by it too).
  public static let threadCount: Int = {
    if let text = FileSystem.environment("GRAFT_THREADS"), let n = Int(text), n > 0 { return min(n, 256) }
    return Syscalls.availableProcessorCount
  }()

  /// Calls `body(part)` for every part in `0..<parts`, on up to ``threadCount`` threads.
  ///
  /// Returns when all parts are done. Runs inline when there is one part or one thread.
  public static func run(parts: Int, _ body: @Sendable (Int) -> Void) {
    guard parts > 1, threadCount > 1 else {
      for part in 0..<max(parts, 0) { body(part) }
      return
    }
    // One iteration per thread, each taking every `workers`-th part, so GRAFT_THREADS bounds the parallelism.
    let workers = min(parts, threadCount)
    DispatchQueue.concurrentPerform(iterations: workers) { worker in
      var part = worker
      while part < parts {
        body(part)
        part += workers
      }
    }
  }
}
