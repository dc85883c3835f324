public import GraftCore

/// One expert MLP `fc2(act(fc1(x)))`; `fc2` may lack a bias when the experts partition one dense MLP.
public struct MoEExpert: Sendable {
  /// width → expert hidden.
  public let fc1: Linear
  /// expert hidden → width.
  public let fc2: Linear

  /// Creates an expert from its projections.
  public init(fc1: Linear, fc2: Linear) {
    self.fc1 = fc1
    self.fc2 = fc2
  }

  /// Loads `<prefix>fc1.*` and `<prefix>fc2.*` in the timm layout.
  init(_ weights: WeightLoader, prefix: String, width: Int) throws(GraftError) {
    let fc1 = try Linear(weights, prefix: prefix + "fc1.", inFeatures: width, outFeatures: nil)
    let fc2 = try Linear(weights, prefix: prefix + "fc2.", inFeatures: fc1.outFeatures, outFeatures: width)
    self.init(fc1: fc1, fc2: fc2)
  }

  /// Computes the expert on `rows` contiguous rows into `y` (overwritten).
  func apply(_ x: UnsafePointer<Float>, rows: Int, activation: Activation, into y: UnsafeMutablePointer<Float>) {
    let hidden = fc1.outFeatures
    guard hidden > 0 else {
      fc2.applyBiasOnly(rows: rows, into: y)
      return
    }
    var h = uninitializedFloats(rows * hidden) { fc1.apply(x, rows: rows, into: $0) }
    h.withUnsafeMutableBufferPointer { hb in
      guard let hp = hb.baseAddress else { return }
      activation.apply(hp, count: rows * hidden)
      fc2.apply(hp, rows: rows, into: y)
    }
  }

  /// Runs the expert on a `[rows, width]` tensor.
  ///
  /// - Throws: `invalidArgument` when the last dimension is not the expert's width.
  public func forward(_ x: FloatTensor, activation: Activation) throws(GraftError) -> FloatTensor {
    var hidden = try fc1.forward(x)
    hidden.values.withUnsafeMutableBufferPointer { h in
      if let hp = h.baseAddress { activation.apply(hp, count: h.count) }
    }
    return try fc2.forward(hidden)
  }
}

extension Linear {
  /// Writes only the bias (zeros without one): the output of a layer with no input features.
  fileprivate func applyBiasOnly(rows: Int, into y: UnsafeMutablePointer<Float>) {
    for r in 0..<rows {
      for j in 0..<outFeatures { y[r * outFeatures + j] = bias?[j] ?? 0 }
    }
  }
}
