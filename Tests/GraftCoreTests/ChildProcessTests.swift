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

/// Thread counts follow the CPU affinity (`taskset`, a container's cpuset), not the machine's processor count.
@Suite("Processors available to the process")
struct ProcessorCountTests {
  @Test("kernel CPU lists are counted; anything else is refused")
  func cpuLists() {
    #expect(Syscalls.cpuListCount("\t0-3,8,10-11") == 7)
    #expect(Syscalls.cpuListCount("0") == 1)
    #expect(Syscalls.cpuListCount("3-1") == nil)
    #expect(Syscalls.cpuListCount("0-") == nil)
    #expect(Syscalls.cpuListCount("a") == nil)
    #expect(Syscalls.cpuListCount("") == nil)
  }

  @Test("the affinity's count is at least one and at most the processors online")
  func available() {
    #expect((1...Syscalls.onlineProcessorCount).contains(Syscalls.availableProcessorCount))
  }
}
