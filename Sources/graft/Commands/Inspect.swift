import ArgumentParser
import Graft

struct Inspect: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Show a checkpoint's format, metadata, tensors, aliases and lineage.",
    discussion: """
      Reads headers only, so it takes milliseconds on any file size. The format is detected from content.

      Example:
        graft inspect model.safetensors
        graft inspect checkpoint.pth --select model --limit 20
        graft inspect model.graft --json
      """)

  @Argument(help: "A checkpoint file or a sharded checkpoint folder.") var path: String
  @Flag(help: "Print JSON instead of a table.") var json = false
  @Option(help: "Show at most this many tensor rows (0 = all).") var limit = 0
  @OptionGroup var reading: ReadingOptions

  func run() throws {
    try Failure.reporting {
      let inspection = try Inspection.inspect(path: path, options: reading.readOptions)
      // The table prints before a defect found in it, which then sets the exit status like any input error.
      print(json ? inspection.json.serialized(JSONFormatting(indent: 2)) : inspection.render(limit: limit))
      if let error = inspection.tableError { throw error }
    }
  }
}
