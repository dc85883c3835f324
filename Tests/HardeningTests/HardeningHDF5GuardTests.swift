import Foundation
import Graft
import TestSupport
import Testing

/// Corrupt HDF5 files on which libhdf5 1.10.8 crashes, loops or over-allocates end `graft` with exit 2.
///
/// These are fuzzing findings (FUZZING.md). `graft` reads every HDF5 file's metadata in a guard child first, so each
/// must end the command with exit 2, a message naming the file, and no output, never with a signal.
@Suite(
  "libhdf5's crash inputs end graft cleanly",
  .enabled(if: GraftExecutable.path != nil && HDF5Support.isAvailable, "needs the graft executable and HDF5"))
struct HardeningHDF5GuardTests {
  struct Case: Sendable, CustomTestStringConvertible {
    var file: String
    var message: String
    var testDescription: String { file }
  }

  static let cases = [
    // H5HG_read copies a length read from a corrupt global heap: SIGSEGV.
    Case(file: "h5hg-read-vlen-attribute.h5", message: "crashed (SIGSEGV)"),
    // H5T__conv_vlen allocates 5.4 GB for a variable-length attribute: the guard's address-space cap stops it.
    Case(file: "h5t-conv-vlen-5GiB-allocation.h5", message: "memory allocation failed"),
    // H5C_protect loops in the metadata cache: the guard's deadline (2 s here) stops it.
    Case(file: "h5c-protect-metadata-loop.h5", message: "did not finish"),
  ]

  static func run(
    _ arguments: [String], guarded: Bool = true
  ) throws -> (
    status: Int32, reason: Process.TerminationReason, stderr: String, stdout: String
  ) {
    var environment = ["GRAFT_HDF5_GUARD_SECONDS": "2"]
    if !guarded { environment["GRAFT_HDF5_GUARD"] = "off" }
    return try GraftExecutable.run(arguments, environment: environment)
  }

  @Test("inspect and convert exit 2 with the reason, and write nothing", arguments: cases)
  func guarded(_ c: Case) throws {
    let input = TestPaths.repositoryRoot + "/Fuzz/Regressions/libhdf5/" + c.file
    let out = try TestPaths.scratchFolder("hdf5-guard-" + c.file)
    for arguments in [["inspect", input], ["convert", input, out + "/out.safetensors"]] {
      let r = try Self.run(arguments)
      #expect(r.reason == .exit && r.status == 2, "\(arguments[0]): \(r.reason) \(r.status)")
      #expect(r.stderr.contains(c.file) && r.stderr.contains(c.message), "\(arguments[0]): \(r.stderr)")
    }
    #expect(try FileSystem.contents(of: out).isEmpty)
  }

  @Test("a good HDF5 file converts the same with the guard on and with GRAFT_HDF5_GUARD=off")
  func goodFile() throws {
    let out = try TestPaths.scratchFolder("hdf5-guard-good")
    let input = TestPaths.fixture("hdf5/keras2.h5")
    let on = try Self.run(["convert", input, out + "/on.safetensors", "-q"])
    let off = try Self.run(["convert", input, out + "/off.safetensors", "-q"], guarded: false)
    #expect(on.status == 0 && off.status == 0, "\(on.stderr) \(off.stderr)")
    #expect(try FileSystem.readAll(out + "/on.safetensors") == FileSystem.readAll(out + "/off.safetensors"))
    #expect(try Checkpoint.read(path: out + "/on.safetensors").count > 0)
  }
}
