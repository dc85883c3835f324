import ArgumentParser
import Graft

/// Turns library errors into one clear line on standard error and the documented exit status.
///
/// The status comes from the error's type: a usage problem (`invalidArgument`) is 64, an error on the output side
/// (`GraftError.side == .output`: disk full, unwritable folder) is 3, anything else about the input is 2. A failed
/// check is not an error: commands return ``mismatch`` themselves.
enum Failure {
  /// A comparison or verification found a difference.
  static let mismatch = ExitCode(1)
  /// The input is invalid or unreadable.
  static let badInput = ExitCode(2)
  /// The output could not be written.
  static let outputFailed = ExitCode(3)
  /// Bad command-line usage.
  static let usage = ExitCode(64)

  /// Library options whose flags are not their kebab-case names.
  static let flags = [
    "selection": "--include/--exclude", "format": "--to", "target": "--to", "tMap": "--t-map",
    "foldBatchNorm": "--fold-bn", "stripPrefixes": "--strip-prefix", "activation": "--act", "normKind": "--norm",
    "mlpKind": "--mlp", "imageSize": "--img-size", "resamplePositionEmbedding": "--resample-pos-embed",
    "normalizeTopK": "--norm-topk-prob", "wholeModelByteLimit": "--engine-limit-gb", "topTokens": "--top",
  ]

  /// The exit status for an error.
  static func status(for error: GraftError) -> ExitCode {
    if error.code == .invalidArgument { return usage }
    return error.side == .output ? outputFailed : badInput
  }

  /// The flag of a library option (`topK` → `--top-k`, or as named in ``flags``), or of each in a list `a,b`.
  static func flag(for option: String) -> String {
    if option.contains(",") {
      return option.split(separator: ",").map { flag(for: String($0)) }.joined(separator: ", ")
    }
    if let named = flags[option] { return named }
    var out = "--"
    for c in option {
      if c.isUppercase {
        out += "-" + c.lowercased()
      } else {
        out.append(c)
      }
    }
    return out
  }

  /// Runs `body`, printing a thrown error (with the flag that resolves it, when the error names a library option)
  /// and exiting with its status.
  static func reporting(_ body: () throws -> Void) throws {
    do {
      try body()
    } catch let error as GraftError {
      var text = "\(error)"
      if let option = error.option { text += " (\(flag(for: option)))" }
      FileSystem.writeToStandardError("graft: error: \(text)\n")
      throw status(for: error)
    } catch  where error is ExitCode || error is CleanExit || error is ValidationError {
      throw error
    } catch {
      FileSystem.writeToStandardError("graft: error: \(error)\n")
      throw badInput
    }
  }

  /// Prints a report as JSON (Python's `indent=2` style) or as text.
  static func print(json: Bool, _ value: @autoclosure () -> JSONValue, text: @autoclosure () -> String) {
    Swift.print(json ? value().serialized(.pythonIndent2) : text())
  }

  /// Prints a warning line to standard error.
  static func warn(_ text: String) { FileSystem.writeToStandardError("graft: warning: \(text)\n") }
}
