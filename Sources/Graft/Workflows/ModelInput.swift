/// Workflows that take an image checkpoint or a language model (a Hugging Face model folder) decide by the input, and
/// refuse an option of the other kind by name: an option that would be ignored is an error, never a silent no-op.
public enum ModelInput {
  /// Whether `path` is a Hugging Face model folder (config.json + weights).
  public static func isModelFolder(_ path: String) -> Bool { HuggingFaceFolder.isModelFolder(path) }

  /// Whether `path` is a language model the engine runs: a model folder, or a GGUF file of an architecture it knows.
  public static func isLanguageModel(_ path: String) -> Bool { isModelFolder(path) || LLMModelSource.isModel(path) }

  /// Throws `invalidArgument` resolved by the first of `given`: options (library names) that were set although they
  /// apply only to the other kind of input than `path`'s.
  ///
  /// - Parameter languageModels: what the language-model side takes, for the message.
  public static func refuse(
    _ given: [String], for path: String, isLanguageModel: Bool,
    languageModels: String = "language models (a Hugging Face model folder or a GGUF file)"
  ) throws(GraftError) {
    guard let option = given.first else { return }
    let why =
      isLanguageModel
      ? "applies to image models; \(path) is a language model, which takes its architecture from its own configuration"
      : "applies to \(languageModels); \(path) is not one"
    throw GraftError(.invalidArgument, "\(option) \(why)").resolved(by: option)
  }
}

extension VisionTransformer.Options {
  /// The options the caller set (library names, such as `heads`), which a model folder would not use.
  public var given: [String] {
    let set: [(String, Bool)] = [
      ("heads", heads != nil), ("globalPool", globalPool != nil), ("poolIncludePrefix", poolIncludePrefix != nil),
      ("fcNorm", fcNorm != nil), ("activation", activation != nil), ("normKind", normKind != nil),
      ("normEps", normEps != nil), ("mlpKind", mlpKind != nil), ("numPrefixTokens", numPrefixTokens != nil),
      ("imageSize", imageSize != nil), ("resamplePositionEmbedding", resamplePositionEmbedding != nil),
      ("assumeDefaults", assumeDefaults), ("ignoreUnused", ignoreUnused),
    ]
    return set.filter(\.1).map(\.0)
  }
}

/// A result made of its three parts, for workflows whose report is a library value of its own (a diff, a
/// verification): what ``WorkflowResult`` asks of it, computed once.
public struct WorkflowReport: WorkflowResult {
  /// Whether the comparison or validation found nothing wrong.
  public var passed: Bool
  /// The report for terminals.
  public var lines: [String]
  /// The report as data.
  public var json: JSONValue

  /// Creates a report.
  public init(passed: Bool, text: String, json: JSONValue) {
    (self.passed, self.lines, self.json) = (passed, [text], json)
  }
}

extension CheckReport: WorkflowResult {}
extension ConversionReport: WorkflowResult {
  /// A conversion has no checks: it passes once it returns.
  public var passed: Bool { true }
}
extension RunWorkflow.Result: WorkflowResult {
  /// A run has no checks: it passes once it returns.
  public var passed: Bool { true }
}
