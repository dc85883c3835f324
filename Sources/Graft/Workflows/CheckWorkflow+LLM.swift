extension CheckWorkflow {
  /// Whether `path` is an LLM input for `graft check`: a Hugging Face model folder (config.json + weights) or a GGUF
  /// file of an architecture the engine runs.
  public static func isLLM(_ path: String) -> Bool { ModelInput.isLanguageModel(path) }

  /// Compares two model folders with ``LLMCheck``: every layer's output, the logits, top-1 agreement and the KL
  /// divergence of the next-token distributions, on seeded token ids or on the ids of `tokens`.
  ///
  /// - Throws: `invalidArgument` when only one side is a model folder; the folders' and models' errors.
  public static func compareLLM(
    before: String, after: String, read: Checkpoint.ReadOptions = .init(), tokens: String? = nil,
    options: LLMCheck.Options = .init()
  ) throws -> CheckReport {
    for (side, path) in [("before", before), ("after", after)] where !isLLM(path) {
      throw GraftError(
        .invalidArgument,
        "the \(side) checkpoint is not a model folder (config.json + weights) nor a GGUF LLM while the other one "
          + "is; an LLM is compared with an LLM", file: path
      ).on(.input)
    }
    let (a, ca) = try LLMModelLoader.load(before, read: read)
    let (b, cb) = try LLMModelLoader.load(after, read: read)
    var o = options
    if let tokens { o.tokens = try LLMTokens.read(tokens) }
    var report: CheckReport
    do { report = try LLMCheck.compare(before: a, after: b, options: o) } catch {
      throw tokens.map { error.inFile($0).on(.input) } ?? error
    }
    report.header.insert(
      contentsOf: [
        "before: \(before) (\(ca.family.rawValue), \(ca.layerCount) layers)",
        "after:  \(after) (\(cb.family.rawValue), \(cb.layerCount) layers)",
      ], at: 0)
    return report
  }
}
