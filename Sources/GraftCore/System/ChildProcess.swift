/// Runs a helper process with a deadline and collects its standard output.
///
/// Graft uses it to confine work done by C libraries it cannot make safe: a crash, an endless loop or a runaway
/// allocation in the child becomes a result the parent can report, instead of taking the parent down.
package enum ChildProcess {
  /// How the child ended.
  package enum Outcome: Sendable, Equatable {
    /// It exited with this status.
    case exited(Int32)
    /// A signal ended it (a crash: `SIGSEGV`, `SIGABRT`, …).
    case signalled(Int32)
    /// It was still running at the deadline and was killed.
    case timedOut
  }

  /// The outcome and everything the child wrote to standard output (capped at `outputLimit` bytes).
  package struct Result: Sendable {
    package var outcome: Outcome
    package var output: [UInt8]
  }

  /// Starts `executable` with `arguments` (without argv[0]) and waits at most `seconds` for it to finish.
  ///
  /// A quiet child has its standard error discarded and the Swift runtime's crash backtracer off: its crash is an
  /// expected outcome that the caller reports in its own words.
  package static func run(
    _ executable: String, _ arguments: [String], seconds: Double, quiet: Bool = false, outputLimit: Int = 1 << 20
  ) throws(SystemError) -> Result {
    let (pid, output) = try Syscalls.spawn(
      executable, [executable] + arguments, extraEnvironment: quiet ? ["SWIFT_BACKTRACE=enable=no"] : [],
      discardStandardError: quiet)
    defer { Syscalls.close(output) }
    let deadline = Syscalls.monotonicNanoseconds() + UInt64(max(seconds, 0) * 1e9)
    func remainingMilliseconds() -> Int32? {
      let now = Syscalls.monotonicNanoseconds()
      return now < deadline ? Int32(min((deadline - now) / 1_000_000 + 1, 60_000)) : nil
    }
    var collected: [UInt8] = []
    // Read until end of file on the pipe (the child closed its output, normally by ending), then reap it. A child
    // that closed stdout and kept running is still bounded by the deadline.
    var reading = true
    while let wait = remainingMilliseconds() {
      if reading {
        guard Syscalls.waitReadable(output, milliseconds: wait) else { continue }
        let chunk = try Syscalls.readSome(output)
        if chunk.isEmpty { reading = false }
        if collected.count < outputLimit { collected += chunk.prefix(outputLimit - collected.count) }
        continue
      }
      switch Syscalls.tryWait(pid) {
      case .exited(let code)?: return Result(outcome: .exited(code), output: collected)
      case .signalled(let signal)?: return Result(outcome: .signalled(signal), output: collected)
      case nil: Syscalls.sleep(milliseconds: 2)
      }
    }
    Syscalls.killHard(pid)
    Syscalls.wait(pid)
    return Result(outcome: .timedOut, output: collected)
  }
}
