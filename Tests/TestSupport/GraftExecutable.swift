public import Foundation
import GraftCore

/// The `graft` executable built alongside the tests (CI builds it), or the one at `GRAFT_BIN`.
public enum GraftExecutable {
  /// Its path, or `nil` when it was not built; suites that need it are disabled then.
  public static let path: String? = {
    if let explicit = FileSystem.environment("GRAFT_BIN") { return explicit }
    guard let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return nil }
    let candidate = AtomicOutputFile.folder(of: exe) + "/graft"
    return FileSystem.exists(candidate) ? candidate : nil
  }()

  /// Runs `graft` to the end with extra environment variables; returns how it ended, its standard error and its
  /// standard output (collected in a file, so a large output cannot block the child).
  public static func run(
    _ arguments: [String], environment extra: [String: String] = [:]
  ) throws -> (
    status: Int32, reason: Process.TerminationReason, stderr: String, stdout: String
  ) {
    let outPath = (FileSystem.environment("TMPDIR") ?? "/tmp") + "/graft-cli-\(UInt64.random(in: 0...UInt64.max)).out"
    FileManager.default.createFile(atPath: outPath, contents: nil)
    defer { try? FileManager.default.removeItem(atPath: outPath) }
    let outHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path ?? "/nonexistent")
    p.arguments = arguments
    p.environment = ProcessInfo.processInfo.environment.merging(extra) { _, new in new }
    let errors = Pipe()
    p.standardOutput = outHandle
    p.standardError = errors
    try p.run()
    let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    try outHandle.close()
    let out = String(decoding: FileManager.default.contents(atPath: outPath) ?? Data(), as: UTF8.self)
    return (p.terminationStatus, p.terminationReason, text, out)
  }
}
