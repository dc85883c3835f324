extension HDF5Checkpoint {
  /// Turns HDF5 isolation on for this process, running `executable arguments FILE LAYOUT BYTES` as the guard child,
  /// unless `GRAFT_HDF5_GUARD=off`; `GRAFT_HDF5_GUARD_SECONDS` sets the deadline (60 s by default).
  ///
  /// Does nothing when HDF5 is not built in or the executable does not exist.
  public static func isolateFromEnvironment(executable: String, arguments: [String]) {
    guard HDF5Support.isAvailable, FileSystem.environment("GRAFT_HDF5_GUARD") != "off", FileSystem.exists(executable)
    else { return }
    var policy = Isolation(executable: executable, arguments: arguments)
    if let text = FileSystem.environment("GRAFT_HDF5_GUARD_SECONDS"), let seconds = Double(text), seconds > 0 {
      policy.seconds = seconds
    }
    isolate(policy)
  }
}
