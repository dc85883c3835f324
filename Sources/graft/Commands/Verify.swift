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
    try Failure.checking {
      let bar = ProgressBar.make("verifying", quiet: quiet || json)
      let report = try VerificationReport.verify(path: path, progress: bar?.counter())
      bar?.finish()
      Failure.print(json: json, report.json, text: report.render())
      return report.isValid
    }
  }
}
