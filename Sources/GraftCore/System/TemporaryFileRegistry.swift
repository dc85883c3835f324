import Synchronization

/// The temporary files this process is writing, so that an interrupt (Ctrl-C, `kill`, a closed terminal) removes
/// them before the process exits.
///
/// ``AtomicOutputFile`` registers every temporary path it creates and unregisters it once the file is renamed into
/// place or removed. A program opts in to the cleanup with ``removeOnTerminationSignals()`` (the `graft` command
/// does; a library user's own signal handling is left alone).
///
/// A signal handler may only call async-signal-safe functions, so nothing in it allocates, locks or builds a
/// `String`: paths are kept as NUL-terminated bytes in a fixed table of ``capacity`` slots of ``slotSize`` bytes,
/// and which slots hold a live path is one bit per slot in lock-free atomics that the handler loads. A path that
/// does not fit (more than ``capacity`` files at once, or a path of ``slotSize`` bytes or more) is not covered; the
/// next write to the same destination still removes it as a stale temporary.
public enum TemporaryFiles {
  /// The number of temporary files covered at once.
  public static let capacity = 256
  /// The longest path covered, plus its terminating NUL.
  static let slotSize = 4096

  /// The path bytes, ``capacity`` slots of ``slotSize`` bytes; pages are touched only as slots are used.
  nonisolated(unsafe) static let table = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity * slotSize)
  /// Which slots are taken (by a registration in progress or a live path); only registration reads it.
  static let taken = Mutex<[Bool]>(Array(repeating: false, count: capacity))
  /// One bit per slot whose path is complete and live: what the handler reads.
  static let live = LiveSlots()

  /// Four 64-bit atomics, one bit per slot (a tuple of atomics is not allowed, so four properties).
  final class LiveSlots: Sendable {
    private let word0 = Atomic<UInt64>(0)
    private let word1 = Atomic<UInt64>(0)
    private let word2 = Atomic<UInt64>(0)
    private let word3 = Atomic<UInt64>(0)

    private func word<R>(_ index: Int, _ body: (borrowing Atomic<UInt64>) -> R) -> R {
      switch index {
      case 0: return body(word0)
      case 1: return body(word1)
      case 2: return body(word2)
      default: return body(word3)
      }
    }

    func load(word index: Int) -> UInt64 { word(index) { $0.load(ordering: .acquiring) } }

    func set(_ slot: Int, _ on: Bool) {
      let bit = UInt64(1) << UInt64(slot % 64)
      word(slot / 64) { w in
        if on {
          _ = w.bitwiseOr(bit, ordering: .releasing)
        } else {
          _ = w.bitwiseAnd(~bit, ordering: .acquiringAndReleasing)
        }
      }
    }
  }

  /// Records a temporary path; returns its slot, or `nil` when the path is not covered (table full, path too long).
  static func register(_ path: String) -> Int? {
    let bytes = Array(path.utf8)
    guard !bytes.isEmpty, bytes.count < slotSize, !bytes.contains(0) else { return nil }
    let slot = taken.withLock { (taken: inout [Bool]) -> Int? in
      guard let free = taken.firstIndex(of: false) else { return nil }
      taken[free] = true
      return free
    }
    guard let slot else { return nil }
    let base = table + slot * slotSize
    bytes.withUnsafeBufferPointer { source in
      if let s = source.baseAddress { base.update(from: s, count: bytes.count) }
    }
    base[bytes.count] = 0
    live.set(slot, true)
    return slot
  }

  /// Forgets a slot returned by ``register(_:)`` (the file was renamed into place or removed).
  static func unregister(_ slot: Int?) {
    guard let slot else { return }
    live.set(slot, false)
    taken.withLock { $0[slot] = false }
  }

  /// The temporary paths registered now (for tests and diagnostics).
  public static var registeredPaths: [String] {
    var out: [String] = []
    for word in 0..<(capacity / 64) {
      let bits = live.load(word: word)
      for k in 0..<64 where bits & (UInt64(1) << UInt64(k)) != 0 {
        let base = table + (word * 64 + k) * slotSize
        var n = 0
        while base[n] != 0 { n += 1 }
        out.append(String(decoding: UnsafeBufferPointer(start: base, count: n), as: UTF8.self))
      }
    }
    return out
  }

  /// Installs handlers for SIGINT, SIGTERM and SIGHUP that unlink every registered temporary file and exit with
  /// status 128 + the signal number (130, 143, 129), as a shell reports a process the signal ended.
  ///
  /// Call it once, early, from a program's entry point.
  public static func removeOnTerminationSignals() {
    // Every global the handler touches is initialised here, before a signal can arrive: lazy initialisation takes a
    // lock, which a handler must not.
    _ = table
    _ = live.load(word: 0)
    Syscalls.installTerminationHandlers()
  }

  /// The handler's work: unlink every live path.
  ///
  /// Async-signal-safe: atomic loads, pointer arithmetic, `unlink`.
  static func removeAllForSignal() {
    for word in 0..<(capacity / 64) {
      let bits = live.load(word: word)
      if bits == 0 { continue }
      for k in 0..<64 where bits & (UInt64(1) << UInt64(k)) != 0 {
        Syscalls.unlink(cString: table + (word * 64 + k) * slotSize)
      }
    }
  }
}
