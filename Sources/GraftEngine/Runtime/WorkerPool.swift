import Dispatch
import GraftCore
import Synchronization

/// A pointer shared with pool workers that each touch a disjoint part of its memory.
///
/// Invariant: every worker reads shared inputs and writes only the range its part index owns, and the submitting call
/// (``WorkerPool/run(parts:_:)``) returns only after every part finished, so the memory outlives all accesses.
struct SharedPointer<Pointee>: @unchecked Sendable {
  // Invariant: workers touch disjoint parts; the submitting call outlives every access (see above).
  let pointer: UnsafeMutablePointer<Pointee>
  init(_ pointer: UnsafeMutablePointer<Pointee>) { self.pointer = pointer }
}

/// A persistent pool of spinning workers for compute kernels.
///
/// `DispatchQueue.concurrentPerform` wakes its threads too slowly for the 0.5–5 ms regions of a ViT forward (workers
/// were measured starting up to 8 ms late, see the engineering guide §2.5), so helpers spin for a few milliseconds
/// after each job and only then park on a semaphore. The calling thread always works too. One job runs at a time; a
/// job submitted while another runs (nested kernels, concurrent tests) runs serially on its caller.
final class WorkerPool: Sendable {
  typealias Job = @Sendable (Int) -> Void

  /// The process-wide pool, sized by ``defaultThreadCount``.
  static let shared = WorkerPool(threads: defaultThreadCount)

  /// `GRAFT_THREADS` when it is a positive integer, else the processors this process may use
  /// (``ParallelWork/threadCount``).
  static var defaultThreadCount: Int { ParallelWork.threadCount }

  private final class Helper: Sendable {
    let sleeping = Atomic<Bool>(false)
    let wake = DispatchSemaphore(value: 0)
  }

  private struct Slot {
    var generation = 0
    var parts = 0
    var job: Job?
  }

  /// The number of threads a job uses, the caller included.
  let threadCount: Int
  private let helpers: [Helper]
  // Generation in the high 32 bits, next unclaimed part in the low 32: a late worker holding an old job can never
  // claim a part of a newer one, because its compare-exchange carries the old generation.
  private let ticket = Atomic<Int>(0)
  private let finished = Atomic<Int>(0)
  private let busy = Atomic<Bool>(false)
  private let slot = Mutex(Slot())
  private static let spinNanoseconds: UInt64 = 3_000_000

  init(threads: Int) {
    threadCount = max(1, threads)
    helpers = (1..<max(threadCount, 1)).map { _ in Helper() }
    for (i, helper) in helpers.enumerated() {
      DispatchQueue(label: "graft.engine.worker.\(i + 1)", qos: .userInitiated).async { [self] in
        self.workerLoop(helper)
      }
    }
  }

  /// Runs `body(part)` for every part in `0..<parts`, spread over the pool, and returns when all are done.
  func run(parts: Int, _ body: @escaping Job) {
    if parts <= 0 { return }
    if parts == 1 || helpers.isEmpty
      || !busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
    {
      for p in 0..<parts { body(p) }
      return
    }
    defer { busy.store(false, ordering: .releasing) }
    let generation = slot.withLock { s -> Int in
      s.generation = (s.generation + 1) & 0x7FFF_FFFF
      s.parts = parts
      s.job = body
      return s.generation
    }
    finished.store(0, ordering: .relaxed)
    ticket.store(generation << 32, ordering: .sequentiallyConsistent)
    for helper in helpers
    where helper.sleeping.compareExchange(
      expected: true, desired: false, ordering: .sequentiallyConsistent
    ).exchanged {
      helper.wake.signal()
    }
    work(generation: generation, parts: parts, body)
    while finished.load(ordering: .acquiring) < parts {}
    slot.withLock { $0.job = nil }
  }

  private func work(generation: Int, parts: Int, _ body: Job) {
    while true {
      let current = ticket.load(ordering: .acquiring)
      guard current >> 32 == generation else { return }
      let part = current & 0xFFFF_FFFF
      guard part < parts else { return }
      if ticket.compareExchange(expected: current, desired: current + 1, ordering: .acquiringAndReleasing).exchanged {
        body(part)
        finished.add(1, ordering: .releasing)
      }
    }
  }

  private func workerLoop(_ helper: Helper) {
    var seen = 0
    let clock = ContinuousClock()
    while true {
      var spins = 0
      var start = clock.now
      while ticket.load(ordering: .acquiring) >> 32 == seen {
        spins += 1
        if spins & 1023 != 0 { continue }
        if start.duration(to: clock.now) < .nanoseconds(Self.spinNanoseconds) { continue }
        helper.sleeping.store(true, ordering: .sequentiallyConsistent)
        if ticket.load(ordering: .sequentiallyConsistent) >> 32 != seen {
          if !helper.sleeping.compareExchange(expected: true, desired: false, ordering: .sequentiallyConsistent)
            .exchanged
          {
            helper.wake.wait()  // the submitter cleared the flag and signals; consume it
          }
        } else {
          helper.wake.wait()
        }
        spins = 0
        start = clock.now
      }
      let (generation, parts, job) = slot.withLock { ($0.generation, $0.parts, $0.job) }
      seen = ticket.load(ordering: .acquiring) >> 32
      guard let job, generation == seen else { continue }
      work(generation: generation, parts: parts, job)
    }
  }
}
