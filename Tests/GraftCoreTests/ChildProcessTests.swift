import GraftCore
import Testing

@Suite("Child processes: exit status, crash, deadline")
struct ChildProcessTests {
  @Test("a child's exit status and standard output are returned")
  func exitAndOutput() throws {
    let r = try ChildProcess.run("/bin/sh", ["-c", "printf 'one\\ttwo'; exit 3"], seconds: 10)
    #expect(r.outcome == .exited(3))
    #expect(String(decoding: r.output, as: UTF8.self) == "one\ttwo")
  }

  @Test("a crashing child is reported with its signal")
  func crash() throws {
    let r = try ChildProcess.run("/bin/sh", ["-c", "kill -SEGV $$"], seconds: 10, quiet: true)
    #expect(r.outcome == .signalled(11))
    #expect(Syscalls.signalName(11) == "SIGSEGV")
  }

  @Test("a child still running at the deadline is killed, and the call returns at the deadline")
  func deadline() throws {
    let t0 = Syscalls.monotonicNanoseconds()
    // `exec` so that the killed process is the sleeper itself and no grandchild keeps the pipe open.
    let r = try ChildProcess.run("/bin/sh", ["-c", "echo started; exec sleep 30"], seconds: 0.5)
    let elapsed = Double(Syscalls.monotonicNanoseconds() - t0) / 1e9
    #expect(r.outcome == .timedOut)
    #expect(String(decoding: r.output, as: UTF8.self) == "started\n")
    #expect(elapsed >= 0.5 && elapsed < 10)
  }

  @Test("a program that cannot be started is an error, not a crash")
  func missing() {
    #expect(throws: SystemError.self) { try ChildProcess.run("/nonexistent/graft", [], seconds: 1) }
  }
}
