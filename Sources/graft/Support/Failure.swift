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
  ///
  /// - Parameter outputs: The paths the command writes. An error located at one of them (or inside one, for a
  ///   sharded folder) is an output failure, whichever library reported it; for errors elsewhere, and for commands that
  ///   pass no outputs, the wording of the message decides.
  static func reporting(outputs: [String] = [], _ body: () throws -> Void) throws {
    do {
      try body()
    } catch let error as GraftError {
      FileSystem.writeToStandardError("graft: error: \(error)\n")
      let atOutput =
        error.file.map { file in
          outputs.contains { file == $0 || file.hasPrefix($0.hasSuffix("/") ? $0 : $0 + "/") }
        } ?? false
      if error.code == .invalidArgument { throw usage }
      if atOutput { throw outputFailed }
      let message = error.message
      if error.code == .io
        && (message.contains("destination") || message.contains("output") || message.contains("space")
          || message.contains("writable"))
      {
        throw outputFailed
      }
      throw badInput
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
