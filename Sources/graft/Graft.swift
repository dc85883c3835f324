import ArgumentParser
import Graft

/// The `graft` command: checkpoint conversion and model surgery.
@main
struct GraftCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "graft",
    abstract: "Checkpoint conversion and model surgery, proven by a built-in forward engine.",
    discussion: """
      Formats are detected from file content. Outputs are written atomically (temp file, fsync, rename).

      Exit status: 0 success; 1 a comparison or verification failed (diff, verify, check); 2 the input is invalid or \
      unreadable; 3 the output could not be written; 64 bad command-line usage.

      GRAFT_THREADS sets how many threads the engine and the format kernels use (default: the CPUs this process may \
      run on, as taskset or a container's cpuset allows).

      HDF5 files are first read in a guard child process, so a libhdf5 crash on a corrupt file exits 2: \
      GRAFT_HDF5_GUARD_SECONDS sets its deadline (60), GRAFT_HDF5_GUARD=off reads in process.
      """,
    version: Checkpoint.buildDescription,
    subcommands: [
      Inspect.self, Convert.self, Diff.self, Verify.self, Run.self, Check.self, MoECommand.self,
      DenoiseRepCommand.self, MrDETRCommand.self, LoRACommand.self, ReparamCommand.self, EMACommand.self,
      AverageCommand.self,
      InterpolateCommand.self, Demo.self, HDF5GuardCommand.self,
    ])

  static func main() {
    // /proc/self/exe rather than the path it names: it still starts this binary after a rebuild replaced the file.
    HDF5Checkpoint.isolateFromEnvironment(executable: "/proc/self/exe", arguments: ["hdf5-guard"])
    TemporaryFiles.removeOnTerminationSignals()  // Ctrl-C, kill, a closed terminal: no temporary file stays
    main(nil)
  }
}
