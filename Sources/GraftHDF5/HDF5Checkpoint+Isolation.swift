package import GraftCore
import Synchronization

// libhdf5 1.10.8 trusts lengths and addresses in a file's metadata: fuzzing found corrupt files on which it reads out
// of bounds (H5HG_read, H5O__msg_iterate_real), allocates tens of gigabytes (H5T__conv_vlen) or loops forever in its
// metadata cache (H5C_protect). Graft cannot fix that library from outside, so a program that reads files from
// strangers walks each file's metadata once in a child process first; only a file the child read cleanly is opened
// in process. Every libhdf5 call the in-process reader makes on metadata was made by the child on the same bytes.

extension HDF5Checkpoint {
  /// How a process confines libhdf5's first reading of each HDF5 file (see ``isolate(_:)``).
  public struct Isolation: Sendable {
    /// The program to start: normally this very executable, which must run ``probeCommand(path:layout:)`` when
    /// given `arguments` followed by a path and a layout name.
    public var executable: String
    /// Arguments placed before the path and layout, such as a hidden subcommand's name.
    public var arguments: [String]
    /// How long the child may take before the file is declared unreadable.
    public var seconds: Double
    /// The address-space cap of the child beyond the file's own size (the file may be mapped).
    public var memoryBytes: Int

    /// Creates an isolation policy.
    public init(executable: String, arguments: [String], seconds: Double = 60, memoryBytes: Int = 4 << 30) {
      self.executable = executable
      self.arguments = arguments
      self.seconds = seconds
      self.memoryBytes = memoryBytes
    }
  }

  private struct IsolationState: Sendable {
    var policy: Isolation?
    /// Files (device, inode, size, layout) whose metadata a child already read cleanly.
    var cleared: Set<String> = []
  }

  private static let isolationState = Mutex(IsolationState())

  /// Makes every later HDF5 read and description in this process walk the file in a child process first.
  ///
  /// A crash, a hang past ``Isolation/seconds`` or an allocation past ``Isolation/memoryBytes`` in the child becomes
  /// a ``GraftError`` naming the file, and the file is never opened in process. `nil` turns isolation off (the
  /// default, so library users and tests are not surprised by child processes).
  public static func isolate(_ policy: Isolation?) {
    isolationState.withLock { $0 = IsolationState(policy: policy) }
  }

  /// The current isolation policy.
  public static var isolation: Isolation? { isolationState.withLock { $0.policy } }

  /// Runs in the child started by the isolation: reads the file's metadata the way ``read(path:options:)`` and
  /// ``describe(path:)`` do, and returns the exit status and one line for the parent.
  ///
  /// Returns 0 and an empty line when the file reads cleanly, 1 and an encoded ``GraftError`` when it does not.
  public static func probeCommand(path: String, layout: Layout, memoryBytes: Int = 4 << 30) -> (Int32, String) {
    let fileSize = (try? FileSystem.size(of: path)) ?? 0
    Syscalls.limitAddressSpace(bytes: Checked.add(memoryBytes, fileSize) ?? Int.max)
    do {
      var options = ReadOptions()
      options.layout = layout
      _ = try readInProcess(path: path, options: options)
      _ = try describeInProcess(path: path)
      return (0, "")
    } catch {
      return (1, ProbeFailure.encode(error))
    }
  }

  /// Throws when isolation is on and a child cannot read the file's metadata cleanly.
  static func guardFile(path: String, layout: Layout) throws(GraftError) {
    guard let policy = isolation else { return }
    // A missing or unreadable file is reported by the in-process reader with its usual message.
    guard let status = try? Syscalls.stat(path) else { return }
    let key = "\(status.device):\(status.inode):\(status.size):\(layout.rawValue)"
    if isolationState.withLock({ $0.cleared.contains(key) }) { return }
    try readInChild(path: path, layout: layout, policy: policy)
    isolationState.withLock { _ = $0.cleared.insert(key) }
  }

  /// Runs the policy's child on the file and turns anything but a clean exit into an error.
  package static func readInChild(path: String, layout: Layout, policy: Isolation) throws(GraftError) {
    let result: ChildProcess.Result
    do {
      result = try ChildProcess.run(
        policy.executable, policy.arguments + [path, layout.rawValue, String(policy.memoryBytes)],
        seconds: policy.seconds, quiet: true)
    } catch {
      throw GraftError(
        .io, "could not start the HDF5 reading guard '\(policy.executable)'", file: path, cause: error)
    }
    let line = String(decoding: result.output, as: UTF8.self)
    switch result.outcome {
    case .exited(0):
      return
    case .exited:
      throw ProbeFailure.decode(line, file: path)
    case .signalled(let signal):
      throw GraftError(
        .invalidHeader,
        "libhdf5 \(HDF5Support.libraryVersion ?? "") crashed (\(Syscalls.signalName(signal))) reading this file's "
          + "metadata in Graft's guard process: the file is corrupt (libhdf5 trusts lengths and addresses stored "
          + "in it); nothing was read from it",
        file: path)
    case .timedOut:
      throw GraftError(
        .invalidHeader,
        "libhdf5 did not finish reading this file's metadata within \(Format.fixed(policy.seconds, digits: 0)) s "
          + "in Graft's guard process (a cycle in corrupt metadata makes it loop; set GRAFT_HDF5_GUARD_SECONDS "
          + "for a slow disk); nothing was read from it",
        file: path)
    }
  }
}

/// Carries a ``GraftError`` from the guard process to its parent on one line: code, tensor, byte offset, message.
enum ProbeFailure {
  static func encode(_ error: any Error) -> String {
    let e = error as? GraftError ?? GraftError(.io, "\(error)")
    func clean(_ s: String) -> String {
      String(s.map { $0 == "\t" || $0 == "\n" ? " " : $0 })
    }
    return [e.code.name, e.tensor ?? "", e.byteOffset.map(String.init) ?? "", clean(e.message)].joined(
      separator: "\t")
  }

  static func decode(_ line: String, file: String) -> GraftError {
    let fields = line.split(separator: "\t", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
    guard fields.count == 4 else {
      return GraftError(
        .invalidHeader, "Graft's HDF5 guard process failed without a reason ('\(line.prefix(200))')", file: file)
    }
    return GraftError(
      GraftError.Code(fields[0]), String(fields[3].prefix { $0 != "\n" }), file: file,
      tensor: fields[1].isEmpty ? nil : fields[1], byteOffset: Int(fields[2]))
  }
}
