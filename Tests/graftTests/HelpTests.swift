import Graft
import TestSupport
import Testing

/// Every command's `--help` at 80 and 120 columns keeps each example on one line, so it can be copied, and breaks
/// prose lines only where a sentence ends (issue 14, item 15).
@Suite("graft --help keeps examples whole", .enabled(if: GraftExecutable.path != nil))
struct HelpTests {
  static func help(_ command: [String], columns: Int) throws -> String {
    try GraftExecutable.run(command + ["--help"], environment: ["COLUMNS": "\(columns)"]).stdout
  }

  /// Every command and subcommand, from the SUBCOMMANDS sections.
  static func commands() throws -> [[String]] {
    var all: [[String]] = [[]]
    var k = 0
    while k < all.count {
      let text = try help(all[k], columns: 1000)
      if let section = text.split(separator: "SUBCOMMANDS:", maxSplits: 1).dropFirst().first {
        for line in section.split(separator: "\n") where line.hasPrefix("  ") && !line.hasPrefix("   ") {
          guard let name = line.split(separator: " ").first.map(String.init), name != "See", name != "help"
          else { continue }
          all.append(all[k] + [name])
        }
      }
      k += 1
    }
    return all
  }

  @Test("at 80 and 120 columns every example stays on one line; source line breaks fall between sentences")
  func examplesAndProse() throws {
    let commands = try Self.commands()
    #expect(commands.count >= 20, "\(commands)")
    var examples = 0
    for command in commands {
      let wide = try Self.help(command, columns: 1000)
      var lines: [String] = []
      for line in wide.split(separator: "\n").map(String.init) {
        if line.hasPrefix("USAGE:") { break }
        lines.append(line)
      }
      let exampleLines = lines.filter { $0.drop(while: { $0 == " " }).hasPrefix("graft ") }
      examples += exampleLines.count
      for line in lines where !exampleLines.contains(line) {
        let last = line.last ?? "."
        #expect(".:)".contains(last), "\(command): a source line break inside a sentence: \(line)")
      }
      for columns in [80, 120] {
        let rendered = try Self.help(command, columns: columns).split(separator: "\n").map(String.init)
        for example in exampleLines {
          #expect(rendered.contains(example), "\(command) at \(columns) columns: '\(example)' is broken")
        }
      }
    }
    #expect(examples >= 30)
  }
}
