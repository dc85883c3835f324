import ArgumentParser
import Graft

/// The hidden child command behind HDF5 isolation: reads one file's metadata and reports how it went.
///
/// Every `graft` process that may open an HDF5 file first runs `graft hdf5-guard FILE LAYOUT BYTES` on it (see
/// `HDF5Checkpoint.isolate`), so that a libhdf5 crash or hang on a corrupt file ends this child, not the command.
struct HDF5GuardCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "hdf5-guard",
    abstract: "Internal: read an HDF5 file's metadata in a child process (used by every command).",
    shouldDisplay: false)

  @Argument var path: String
  @Argument var layout: String
  @Argument var memoryBytes: Int

  func run() throws {
    let (status, line) = HDF5Checkpoint.probeCommand(
      path: path, layout: HDF5Checkpoint.Layout(rawValue: layout) ?? .auto, memoryBytes: memoryBytes)
    if !line.isEmpty { print(line) }
    if status != 0 { throw ExitCode(status) }
  }

  /// Turns isolation on for this process unless `GRAFT_HDF5_GUARD=off`; `GRAFT_HDF5_GUARD_SECONDS` sets the deadline.
  static func isolateThisProcess() {
    // /proc/self/exe rather than the path it names: it still starts this binary after a rebuild replaced the file.
    let executable = "/proc/self/exe"
    guard HDF5Support.isAvailable, FileSystem.environment("GRAFT_HDF5_GUARD") != "off", FileSystem.exists(executable)
    else { return }
    var policy = HDF5Checkpoint.Isolation(executable: executable, arguments: ["hdf5-guard"])
    if let text = FileSystem.environment("GRAFT_HDF5_GUARD_SECONDS"), let seconds = Double(text), seconds > 0 {
      policy.seconds = seconds
    }
    HDF5Checkpoint.isolate(policy)
  }
}
