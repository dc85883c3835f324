import ArgumentParser
import Graft

/// A command that maps its flags to a workflow's options and runs it: the result is printed (text or `--json`), a
/// failed check exits 1, and a thrown error is reported by ``Failure``.
protocol WorkflowCommand: ParsableCommand {
  var printing: PrintOptions { get }
  func workflow() throws -> any WorkflowResult
}

extension WorkflowCommand {
  func run() throws { try Failure.reporting { try printing.finish(try workflow()) } }
}
