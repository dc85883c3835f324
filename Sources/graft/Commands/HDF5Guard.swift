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
  @Argument var layout: HDF5Checkpoint.Layout
  @Argument var memoryBytes: Int

  func run() throws {
    let (status, line) = HDF5Checkpoint.probeCommand(
      path: path, layout: layout, memoryBytes: memoryBytes)
    if !line.isEmpty { print(line) }
    if status != 0 { throw ExitCode(status) }
  }
}
