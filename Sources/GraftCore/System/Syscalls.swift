// The only file in GraftCore that calls the C library. Everything above it works with Swift types and
// `SystemError`; keeping the calls here makes the unsafe surface reviewable in one place (swift-system style).
#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Thin wrappers over the POSIX calls Graft needs.
///
/// Each returns a Swift value or throws ``SystemError``.
package enum Syscalls {
  package static func describe(errno code: Int32) -> String {
    guard let text = strerror(code) else { return "unknown error" }
    return String(cString: text)
  }

  package static var lastErrno: Int32 { errno }

  package static func open(_ path: String, flags: Int32, mode: UInt32 = 0o644) throws(SystemError) -> Int32 {
    while true {
      let fd = path.withCString { Glibc.open($0, flags | O_CLOEXEC, mode) }
      if fd >= 0 { return fd }
      if errno == EINTR { continue }
      throw SystemError(errno: errno, call: "open")
    }
  }

  package static func openReadOnly(_ path: String) throws(SystemError) -> Int32 {
    try open(path, flags: O_RDONLY)
  }

  /// Creates a new file that must not exist yet.
  package static func createExclusive(_ path: String, mode: UInt32 = 0o644) throws(SystemError) -> Int32 {
    try open(path, flags: O_WRONLY | O_CREAT | O_EXCL, mode: mode)
  }

  package static func close(_ fd: Int32) {
    _ = Glibc.close(fd)
  }

  package struct FileStatus: Sendable {
    package var size: Int
    package var isDirectory: Bool
    package var isRegular: Bool
    package var device: UInt64
    package var inode: UInt64
    package var mode: UInt32
  }

  package static func fstat(_ fd: Int32) throws(SystemError) -> FileStatus {
    var st = Glibc.stat()
    guard Glibc.fstat(fd, &st) == 0 else { throw SystemError(errno: errno, call: "fstat") }
    return FileStatus(
      size: Int(st.st_size), isDirectory: (st.st_mode & S_IFMT) == S_IFDIR, isRegular: (st.st_mode & S_IFMT) == S_IFREG,
      device: UInt64(st.st_dev), inode: UInt64(st.st_ino), mode: UInt32(st.st_mode))
  }

  package static func stat(_ path: String) throws(SystemError) -> FileStatus {
    var st = Glibc.stat()
    let rc = path.withCString { fstatat(AT_FDCWD, $0, &st, 0) }
    guard rc == 0 else { throw SystemError(errno: errno, call: "stat") }
    return FileStatus(
      size: Int(st.st_size), isDirectory: (st.st_mode & S_IFMT) == S_IFDIR, isRegular: (st.st_mode & S_IFMT) == S_IFREG,
      device: UInt64(st.st_dev), inode: UInt64(st.st_ino), mode: UInt32(st.st_mode))
  }

  package static func mapReadOnly(fd: Int32, length: Int) throws(SystemError) -> UnsafeRawPointer {
    let p = Glibc.mmap(nil, length, PROT_READ, MAP_PRIVATE, fd, 0)
    guard let p, p != MAP_FAILED else { throw SystemError(errno: errno, call: "mmap") }
    return UnsafeRawPointer(p)
  }

  package static func unmap(_ base: UnsafeRawPointer, length: Int) {
    _ = Glibc.munmap(UnsafeMutableRawPointer(mutating: base), length)
  }

  package enum Advice: Sendable {
    case sequential, random, willNeed, dontNeed
    var raw: Int32 {
      switch self {
      case .sequential: return MADV_SEQUENTIAL
      case .random: return MADV_RANDOM
      case .willNeed: return MADV_WILLNEED
      case .dontNeed: return MADV_DONTNEED
      }
    }
  }

  /// Advises the kernel about a page-aligned range (the range is widened to whole pages inside the mapping).
  package static func advise(base: UnsafeRawPointer, mappingLength: Int, range: Range<Int>, _ advice: Advice) {
    let page = pageSize
    let start = range.lowerBound / page * page
    let end = min(mappingLength, (range.upperBound + page - 1) / page * page)
    guard end > start else { return }
    _ = Glibc.madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, advice.raw)
  }

  package static let pageSize: Int = Int(sysconf(Int32(_SC_PAGESIZE)))

  /// The processors currently online (at least 1).
  package static var onlineProcessorCount: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

  /// The processors this process may run on (its CPU affinity, as `taskset` or a container's cpuset sets it), else
  /// the processors online.
  ///
  /// Read from `Cpus_allowed_list` in /proc/self/status: Swift's Glibc module does not declare sched_getaffinity.
  package static var availableProcessorCount: Int {
    guard let fd = try? openReadOnly("/proc/self/status") else { return onlineProcessorCount }
    defer { close(fd) }
    var text: [UInt8] = []
    while text.count < 1 << 16, let chunk = try? readSome(fd, max: 4096), !chunk.isEmpty { text += chunk }
    let key = "Cpus_allowed_list:"
    let line = String(decoding: text, as: UTF8.self).split(separator: "\n").first { $0.hasPrefix(key) }
    return line.flatMap { cpuListCount($0.dropFirst(key.count)) } ?? onlineProcessorCount
  }

  /// The number of CPUs in a kernel CPU list such as `0-3,8,10-11`; `nil` when the text is not one.
  package static func cpuListCount(_ list: Substring) -> Int? {
    var count = 0
    for part in list.filter({ !$0.isWhitespace }).split(separator: ",") {
      let bounds = part.split(separator: "-", omittingEmptySubsequences: false)
      guard bounds.count <= 2, let low = Int(bounds[0]), let high = Int(bounds[bounds.count - 1]),
        low >= 0, high >= low, high < 1 << 20
      else { return nil }
      count += high - low + 1
    }
    return count > 0 ? count : nil
  }

  /// Writes all of `bytes`, retrying on short writes and EINTR.
  package static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(SystemError) {
    var done = 0
    while done < bytes.count {
      guard let base = bytes.baseAddress else { return }
      let n = Glibc.write(fd, base + done, bytes.count - done)
      if n < 0 {
        if errno == EINTR { continue }
        throw SystemError(errno: errno, call: "write")
      }
      if n == 0 { throw SystemError(errno: EIO, call: "write") }
      done += n
    }
  }

  /// Reads up to `buffer.count` bytes at `offset`; returns the count read (0 at end of file).
  package static func pread(
    _ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int
  ) throws(SystemError)
    -> Int
  {
    guard let base = buffer.baseAddress else { return 0 }
    while true {
      let n = Glibc.pread(fd, base, buffer.count, off_t(offset))
      if n >= 0 { return n }
      if errno == EINTR { continue }
      throw SystemError(errno: errno, call: "pread")
    }
  }

  /// Copies up to `count` bytes from `source` at `offset` to `target` at its file position, inside the kernel.
  ///
  /// Returns the bytes copied (0 at the source's end).
  package static func copyFileRange(
    from source: Int32, offset: Int, to target: Int32, count: Int
  ) throws(SystemError) -> Int {
    guard let copyFileRange = copyFileRangeFunction else { throw SystemError(errno: ENOSYS, call: "copy_file_range") }
    var from = off_t(offset)
    while true {
      let n = copyFileRange(source, &from, target, nil, count, 0)
      if n >= 0 { return n }
      if errno == EINTR { continue }
      throw SystemError(errno: errno, call: "copy_file_range")
    }
  }

  /// Whether `copy_file_range` failed because the kernel does not copy between these two files (the caller then
  /// writes the bytes itself), rather than because writing failed.
  package static func refusesCopyFileRange(_ error: SystemError) -> Bool {
    [EXDEV, EINVAL, ENOSYS, EOPNOTSUPP, EBADF].contains(error.errno)
  }

  private typealias CopyFileRange =
    @convention(c) (
      Int32, UnsafeMutablePointer<off_t>?, Int32, UnsafeMutablePointer<off_t>?, Int, UInt32
    ) -> Int

  /// glibc declares `copy_file_range` only under `_GNU_SOURCE`, which Swift's Glibc module does not define, so the
  /// symbol is looked up at run time (present since glibc 2.27).
  private static let copyFileRangeFunction: CopyFileRange? = {
    guard let symbol = dlsym(nil, "copy_file_range") else { return nil }
    return unsafeBitCast(symbol, to: CopyFileRange.self)
  }()

  /// Starts write-back of `count` bytes at `offset` of `fd` without waiting for it; `count` 0 means to the end.
  ///
  /// `sync_file_range` with `SYNC_FILE_RANGE_WRITE`: the disk works while the writer produces the next bytes, and the
  /// final `fsync` has little left. Purely a hint: where the call is missing or fails, the final `fsync` still does
  /// all the work.
  package static func startWriteBack(_ fd: Int32, offset: Int, count: Int) {
    guard let syncFileRange = syncFileRangeFunction, count >= 0 else { return }
    _ = syncFileRange(fd, off_t(offset), off_t(count), 2)  // SYNC_FILE_RANGE_WRITE
  }

  private typealias SyncFileRange = @convention(c) (Int32, off_t, off_t, UInt32) -> Int32

  /// Declared only under `_GNU_SOURCE`, like `copy_file_range`; looked up at run time (Linux 2.6.17, glibc 2.6).
  private static let syncFileRangeFunction: SyncFileRange? = {
    guard let symbol = dlsym(nil, "sync_file_range") else { return nil }
    return unsafeBitCast(symbol, to: SyncFileRange.self)
  }()

  package static func fsync(_ fd: Int32) throws(SystemError) {
    guard Glibc.fsync(fd) == 0 else { throw SystemError(errno: errno, call: "fsync") }
  }

  package static func ftruncate(_ fd: Int32, _ length: Int) throws(SystemError) {
    guard Glibc.ftruncate(fd, off_t(length)) == 0 else { throw SystemError(errno: errno, call: "ftruncate") }
  }

  package static func seek(_ fd: Int32, to offset: Int) throws(SystemError) {
    guard Glibc.lseek(fd, off_t(offset), SEEK_SET) >= 0 else { throw SystemError(errno: errno, call: "lseek") }
  }

  package static func rename(_ from: String, _ to: String) throws(SystemError) {
    let rc = from.withCString { f in to.withCString { t in Glibc.rename(f, t) } }
    guard rc == 0 else { throw SystemError(errno: errno, call: "rename") }
  }

  /// Whether a process with this id exists (`kill(pid, 0)` succeeds or is refused for lack of permission).
  package static func processExists(_ pid: Int32) -> Bool {
    Glibc.kill(pid, 0) == 0 || errno == EPERM
  }

  package static func unlink(_ path: String) {
    _ = path.withCString { Glibc.unlink($0) }
  }

  /// `unlink` of a NUL-terminated path, for the signal handler (async-signal-safe: no `String`, no allocation).
  static func unlink(cString path: UnsafePointer<UInt8>) {
    _ = path.withMemoryRebound(to: CChar.self, capacity: 1) { Glibc.unlink($0) }
  }

  /// Installs the SIGINT, SIGTERM and SIGHUP handler of ``TemporaryFiles/removeOnTerminationSignals()``: remove the
  /// registered temporary files, then `_exit(128 + signal)`.
  static func installTerminationHandlers() {
    for signal in [SIGINT, SIGTERM, SIGHUP] {
      // A signal the parent ignores (`nohup` ignores SIGHUP) stays ignored.
      var previous = sigaction()
      if sigaction(signal, nil, &previous) == 0,
        unsafeBitCast(previous.__sigaction_handler.sa_handler, to: Int.self) == unsafeBitCast(SIG_IGN, to: Int.self)
      {
        continue
      }
      var action = sigaction()
      action.__sigaction_handler.sa_handler = { signal in
        TemporaryFiles.removeAllForSignal()
        Glibc._exit(128 + signal)
      }
      sigemptyset(&action.sa_mask)
      // The other two signals wait while one handler runs, so the cleanup runs once.
      for other in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&action.sa_mask, other) }
      action.sa_flags = 0
      _ = sigaction(signal, &action, nil)
    }
    // A process started from a thread that blocks signals (a Dispatch worker) inherits that mask; the handlers
    // must be able to run.
    var unblock = sigset_t()
    sigemptyset(&unblock)
    for signal in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&unblock, signal) }
    _ = pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
  }

  package static func rmdir(_ path: String) {
    _ = path.withCString { Glibc.rmdir($0) }
  }

  package static func fsyncDirectory(_ path: String) {
    guard let fd = try? open(path, flags: O_RDONLY | O_DIRECTORY) else { return }
    _ = Glibc.fsync(fd)
    close(fd)
  }

  package static func makeDirectory(_ path: String) throws(SystemError) {
    let rc = path.withCString { Glibc.mkdir($0, 0o755) }
    guard rc == 0 || errno == EEXIST else { throw SystemError(errno: errno, call: "mkdir") }
  }

  package static func listDirectory(_ path: String) throws(SystemError) -> [String] {
    guard let dir = path.withCString({ opendir($0) }) else { throw SystemError(errno: errno, call: "opendir") }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
      let name = withUnsafePointer(to: entry.pointee.d_name) {
        $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
      }
      if name != "." && name != ".." { names.append(name) }
    }
    return names.sorted()
  }

  package static func isTerminal(_ fd: Int32) -> Bool { isatty(fd) != 0 }

  package static var processID: Int32 { getpid() }

  package static func writeToStandardError(_ text: String) {
    var text = text
    text.withUTF8 { buffer in
      _ = try? writeAll(2, UnsafeRawBufferPointer(buffer))
    }
  }

  package static func environment(_ name: String) -> String? {
    guard let value = getenv(name) else { return nil }
    return String(cString: value)
  }

  /// Peak resident set size of this process, in bytes (`getrusage` reports KiB on Linux).
  package static func peakResidentBytes() -> Int {
    var usage = rusage()
    _ = getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return Int(usage.ru_maxrss) * 1024
  }

  package static func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
  }

  package static func randomBytes() -> UInt64 {
    UInt64.random(in: 0...UInt64.max)
  }

  // MARK: - Child processes

  /// Starts `executable` with `arguments` (argv[0] included); its standard output goes to a pipe whose read end is
  /// returned, standard error is inherited.
  ///
  /// posix_spawn, not fork: the caller may have threads, and a forked child of a threaded process may not allocate.
  package static func spawn(
    _ executable: String, _ arguments: [String], extraEnvironment: [String] = [], discardStandardError: Bool = false
  ) throws(SystemError) -> (pid: Int32, output: Int32) {
    var fds: [Int32] = [-1, -1]
    guard pipe(&fds) == 0 else { throw SystemError(errno: errno, call: "pipe") }
    // Close-on-exec on both ends: only the dup2'ed copy on the child's fd 1 must survive into the child.
    for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
    if discardStandardError { posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0) }
    var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
    defer { for p in argv { free(p) } }
    var inherited: [UnsafeMutablePointer<CChar>?] = []
    var e = environ
    while let entry = e.pointee {
      inherited.append(entry)
      e += 1
    }
    let extra: [UnsafeMutablePointer<CChar>?] = extraEnvironment.map { strdup($0) }
    defer { for p in extra { free(p) } }
    var envp = extra + inherited + [nil]
    var pid: pid_t = 0
    let rc = executable.withCString { posix_spawn(&pid, $0, &actions, nil, &argv, &envp) }
    Glibc.close(fds[1])
    guard rc == 0 else {
      Glibc.close(fds[0])
      throw SystemError(errno: rc, call: "posix_spawn")
    }
    return (pid, fds[0])
  }

  /// Waits up to `milliseconds` for `fd` to become readable or reach end of file; false on timeout.
  package static func waitReadable(_ fd: Int32, milliseconds: Int32) -> Bool {
    var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    while true {
      let rc = poll(&entry, 1, milliseconds)
      if rc < 0 && errno == EINTR { continue }
      return rc > 0
    }
  }

  /// Reads what is available (blocking until something is); an empty result means end of file.
  package static func readSome(_ fd: Int32, max: Int = 65536) throws(SystemError) -> [UInt8] {
    var buffer = [UInt8](repeating: 0, count: max)
    while true {
      let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, max) }
      if n >= 0 { return Array(buffer[0..<n]) }
      if errno == EINTR { continue }
      throw SystemError(errno: errno, call: "read")
    }
  }

  /// How a child process ended.
  package enum Termination: Sendable, Equatable {
    case exited(Int32)
    case signalled(Int32)
  }

  /// Reaps a child, blocking until it ends.
  @discardableResult
  package static func wait(_ pid: Int32) -> Termination {
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return termination(status)
  }

  /// Reaps a child if it has ended; `nil` while it runs.
  package static func tryWait(_ pid: Int32) -> Termination? {
    var status: Int32 = 0
    guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
    return termination(status)
  }

  private static func termination(_ status: Int32) -> Termination {
    let signal = status & 0x7f
    return signal == 0 ? .exited((status >> 8) & 0xff) : .signalled(signal)
  }

  package static func sleep(milliseconds: Int) {
    _ = usleep(useconds_t(milliseconds * 1000))
  }

  package static func killHard(_ pid: Int32) {
    _ = Glibc.kill(pid, SIGKILL)
  }

  /// The name of a signal, such as `SIGSEGV`.
  package static func signalName(_ signal: Int32) -> String {
    let names: [Int32: String] = [
      SIGSEGV: "SIGSEGV", SIGABRT: "SIGABRT", SIGBUS: "SIGBUS", SIGILL: "SIGILL", SIGFPE: "SIGFPE",
      SIGKILL: "SIGKILL", SIGTRAP: "SIGTRAP",
    ]
    return names[signal] ?? "signal \(signal)"
  }

  /// Caps this process's address space, so that a runaway allocation fails instead of exhausting the machine.
  package static func limitAddressSpace(bytes: Int) {
    var limit = rlimit(rlim_cur: rlim_t(bytes), rlim_max: rlim_t(bytes))
    _ = setrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &limit)
  }
}

/// The `errno` values Graft reacts to specifically.
public enum Errno {
  /// No space left on device.
  public static var noSpace: Int32 { ENOSPC }
  /// No such file or directory.
  public static var noEntry: Int32 { ENOENT }
  /// Permission denied.
  public static var accessDenied: Int32 { EACCES }
  /// Is a directory.
  public static var isDirectory: Int32 { EISDIR }
}

/// A mutex that the thread holding it may take again (a POSIX recursive mutex).
///
/// For serialising a C library whose wrappers call one another and whose handles are released from `deinit`s that
/// can run while the lock is already held.
package final class RecursiveLock: @unchecked Sendable {
  // Invariant: the mutex is initialised in init and destroyed only in deinit; pthread makes it safe to share.
  private let mutex: UnsafeMutablePointer<pthread_mutex_t>

  /// Creates an unlocked lock.
  package init() {
    mutex = .allocate(capacity: 1)
    var attributes = pthread_mutexattr_t()
    pthread_mutexattr_init(&attributes)
    pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_RECURSIVE))
    pthread_mutex_init(mutex, &attributes)
    pthread_mutexattr_destroy(&attributes)
  }

  deinit {
    pthread_mutex_destroy(mutex)
    mutex.deallocate()
  }

  /// Blocks until this thread holds the lock (at once when it already does); pair with ``unlock()``.
  package func lock() { pthread_mutex_lock(mutex) }

  /// Releases one ``lock()``.
  package func unlock() { pthread_mutex_unlock(mutex) }
}
