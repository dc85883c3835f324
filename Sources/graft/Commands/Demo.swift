import ArgumentParser
import Graft
import GraftDemo

/// `graft demo`: the main job on the embedded default model.
struct Demo: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract:
      "Run the main job on the embedded default model: convert across formats, inspect, diff, verify, cast, check.",
    discussion: """
      Needs no input: the default model is a tiny timm-style ViT built from a fixed seed. Files go to a fresh folder \
      under /tmp (or --work); the demo exits 0 only if every step's check passed.

      Example:
        graft demo
      """)

  @Option(help: "Folder to write the demo's files into (created if missing).") var work: String?

  func run() throws {
    var passed = true
    try Failure.reporting {
      passed = try DemoRunner(workFolder: work, fixturesFolder: DemoFixtures.folder) { print($0) }.run()
    }
    if !passed { throw Failure.mismatch }
  }
}
