import ArgumentParser
import Graft

struct Verify: WorkflowCommand {
  static let configuration = CommandConfiguration(
    abstract: "Validate a checkpoint's structure, read every byte, and check .graft checksums.",
    discussion: """
      Exits 0 when valid, 1 when a problem is found. NaN and infinite values are reported but are not problems.

      Example:
        graft verify model.graft
        graft verify sharded-model/
      """)

  @Argument(help: "A checkpoint file or sharded folder.") var path: String
  @OptionGroup var printing: PrintOptions

  func workflow() throws -> any WorkflowResult {
    let bar = ProgressBar.make("verifying", quiet: printing.quiet || printing.json)
    defer { bar?.finish() }
    let report = try VerificationReport.verify(path: path, progress: bar?.counter())
    return WorkflowReport(passed: report.isValid, text: report.render(), json: report.json)
  }
}
