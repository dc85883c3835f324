public import GraftCore

/// What a forward pass returns.
public struct ForwardOutputs: Sendable {
  /// The final output: logits `[N, classes]`, or the pooled features when the model has no head.
  public var output: FloatTensor
  /// The pooled features `[N, width]` after the final norms.
  public var pooled: FloatTensor
  /// Each block's output `[N, tokens, width]`, in order, when requested; otherwise empty.
  public var hiddenStates: [FloatTensor]

  /// Creates outputs.
  public init(output: FloatTensor, pooled: FloatTensor, hiddenStates: [FloatTensor]) {
    self.output = output
    self.pooled = pooled
    self.hiddenStates = hiddenStates
  }
}

/// A model the engine can run and the verification framework can compare.
public protocol ForwardModel: Sendable {
  /// The shape of one input sample, such as `[3, 224, 224]`.
  var sampleShape: [Int] { get }
  /// A description of the model's structure as JSON, for reports.
  var configurationJSON: JSONValue { get }
  /// The configuration as report lines, each value with its source (`name = value (source)`).
  var configurationLines: [String] { get }
  /// Runs a batch `[N] + sampleShape` (a single sample without the batch dimension is accepted as N = 1).
  ///
  /// - Throws: `invalidArgument` when the input shape is wrong.
  func forward(_ input: FloatTensor, hiddenStates: Bool) throws(GraftError) -> ForwardOutputs
}

extension ForwardModel {
  /// One line: the configuration's JSON.
  public var configurationLines: [String] { [configurationJSON.serialized()] }
}

/// The architectures the engine can build from a tensor table.
public enum ModelArchitecture: String, Sendable, CaseIterable {
  /// timm `VisionTransformer`.
  case vit

  /// Builds the model from a checkpoint's tensors.
  ///
  /// - Throws: `invalidModel` naming the tensor and the expected shape when the checkpoint does not fit.
  public func build(
    _ table: TensorTable, options: VisionTransformer.Options = .init()
  ) throws(GraftError)
    -> any ForwardModel
  {
    switch self {
    case .vit: return try VisionTransformer(table, options: options)
    }
  }
}
