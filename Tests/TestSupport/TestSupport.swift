import FoundationEssentials
@_exported public import GraftCore

#if canImport(Glibc)
  import Glibc
#endif

/// Paths to the repository's committed fixtures and scratch folders for tests.
public enum TestPaths {
  /// The repository root (found from this file's location).
  public static let repositoryRoot: String = {
    var parts = String(#filePath).split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)  // Tests/TestSupport/TestSupport.swift
    return parts.joined(separator: "/")
  }()

  /// The absolute path of a file under `Fixtures/`.
  public static func fixture(_ relative: String) -> String { repositoryRoot + "/Fixtures/" + relative }

  /// Whether a fixture exists.
  public static func hasFixture(_ relative: String) -> Bool { FileSystem.exists(fixture(relative)) }

  /// A fresh, empty scratch folder under the system temp folder, unique per call.
  ///
  /// Every folder of one test process lives under ``processScratch``, which is removed when the process exits.
  public static func scratchFolder(_ label: String = "test") throws -> String {
    let path = processScratch + "/\(label)-\(UInt64.random(in: 0...UInt64.max) & 0xFFFF_FFFF_FFFF)"
    try FileSystem.makeDirectory(path)
    return path
  }

  /// `$TMPDIR/graft-tests/run-<pid>-<random>`: this process's scratch folders, removed at exit.
  ///
  /// Runs that did not reach exit (killed, crashed) leave theirs behind; the next run removes the folders of
  /// processes that no longer exist. Without this, every run kept its files (36 GB after a day of test runs).
  public static let processScratch: String = {
    let base = (FileSystem.environment("TMPDIR") ?? "/tmp") + "/graft-tests"
    let files = FileManager.default
    try? files.createDirectory(atPath: base, withIntermediateDirectories: true)
    for name in (try? files.contentsOfDirectory(atPath: base)) ?? [] where name.hasPrefix("run-") {
      guard let pid = Int32(name.dropFirst(4).prefix { $0 != "-" }) else { continue }
      if kill(pid, 0) != 0 && errno == ESRCH { try? files.removeItem(atPath: base + "/" + name) }
    }
    let path = base + "/run-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try? files.createDirectory(atPath: path, withIntermediateDirectories: true)
    atexit { try? FileManager.default.removeItem(atPath: TestPaths.processScratch) }
    return path
  }()
}

/// The worst disagreement found by ``allClose(_:_:rtol:atol:)``.
public struct CloseReport: Sendable, CustomStringConvertible {
  /// Whether every element satisfied the tolerance.
  public var passed: Bool
  /// The index of the worst element.
  public var worstIndex: Int
  /// The largest absolute difference.
  public var maxAbs: Double
  /// The largest relative difference (|a−b| / |b|, for |b| > 0).
  public var maxRel: Double
  /// A one-line summary.
  public var description: String {
    "passed=\(passed) worst index \(worstIndex), max abs \(maxAbs), max rel \(maxRel)"
  }
}

/// Compares two arrays elementwise with `|a−b| ≤ atol + rtol·|b|`, treating NaN == NaN as equal.
///
/// Like swift-numerics' `isApproximatelyEqual`, this relation is not transitive and not symmetric in `rtol`; do not use
/// it to implement `Equatable`.
public func allClose(_ a: [Float], _ b: [Float], rtol: Double = 1e-5, atol: Double = 1e-6) -> CloseReport {
  var report = CloseReport(passed: a.count == b.count, worstIndex: -1, maxAbs: 0, maxRel: 0)
  var worstExcess = -Double.infinity
  for i in 0..<min(a.count, b.count) {
    let x = Double(a[i])
    let y = Double(b[i])
    if x.isNaN && y.isNaN { continue }
    let d = abs(x - y)
    if x.isNaN || y.isNaN || (d.isNaN && x != y) {
      report.passed = false
      report.worstIndex = i
      report.maxAbs = .infinity
      continue
    }
    report.maxAbs = max(report.maxAbs, d.isNaN ? 0 : d)
    if y != 0 { report.maxRel = max(report.maxRel, d / abs(y)) }
    let excess = d - (atol + rtol * abs(y))
    if excess > worstExcess {
      worstExcess = excess
      report.worstIndex = i
    }
    if excess > 0 { report.passed = false }
  }
  return report
}

/// Reads the raw little-endian Float32 values of a tensor.
public func floatValues(_ tensor: Tensor) throws -> [Float] {
  try tensor.withUnsafeBytes { raw in
    (0..<(raw.count / 4)).map {
      Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)))
    }
  }
}
