import ArgumentParser
import Graft

/// `graft verify`: validate a checkpoint completely.
struct Verify: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Validate a checkpoint's structure, read every byte, and check .graft checksums.",
    discussion: """
      Exits 0 when valid, 1 when a problem is found. NaN and infinite values are reported but are not problems.

      Example:
        graft verify model.graft
        graft verify sharded-model/
      """)

  @Argument(help: "A checkpoint file or sharded folder.") var path: String
  @Flag(name: .shortAndLong, help: "No progress bar.") var quiet = false
  @Flag(help: "Print the report as JSON.") var json = false

  func run() throws {
    var valid = true
    try Failure.reporting {
      let bar = ProgressBar.make("verifying", quiet: quiet || json)
      let report = try VerificationReport.verify(path: path, progress: bar?.counter())
      bar?.finish()
      print(json ? report.json.serialized(.pythonIndent2) : report.render())
      valid = report.isValid
    }
    if !valid { throw Failure.mismatch }
  }
}
