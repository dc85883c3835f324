import ArgumentParser
import Graft

/// Maps library errors to the documented exit codes, printing one clear line to standard error.
enum Failure {
  /// A comparison or verification found a difference.
  static let mismatch = ExitCode(1)
  /// The input is invalid or unreadable.
  static let badInput = ExitCode(2)
  /// The output could not be written.
  static let outputFailed = ExitCode(3)
  /// Bad command-line usage.
  static let usage = ExitCode(64)

  /// Runs `body`, turning thrown Graft errors into a message and an exit code.
  static func reporting(_ body: () throws -> Void) throws {
    do {
      try body()
    } catch let error as GraftError {
      FileSystem.writeToStandardError("graft: error: \(error)\n")
      switch error.code {
      case .invalidArgument: throw usage
      case .io
      where error.message.contains("destination") || error.message.contains("output")
        || error.message.contains("space") || error.message.contains("writable"):
        throw outputFailed
      default: throw badInput
      }
    } catch let error as ExitCode {
      throw error
    } catch let error as CleanExit {
      throw error
    } catch let error as ValidationError {
      throw error
    } catch {
      FileSystem.writeToStandardError("graft: error: \(error)\n")
      throw badInput
    }
  }

  /// Prints a warning line to standard error.
  static func warn(_ text: String) { FileSystem.writeToStandardError("graft: warning: \(text)\n") }
}
