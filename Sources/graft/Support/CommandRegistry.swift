import ArgumentParser

/// Every subcommand, in the order `--help` lists them.
enum CommandRegistry {
  static let subcommands: [any ParsableCommand.Type] = [
    Inspect.self, Convert.self, Diff.self, Verify.self, Run.self, Check.self, MoECommand.self, DenoiseRepCommand.self,
    MrDETRCommand.self,
    Demo.self,
  ]
}
