public import GraftCore

extension DenoiseRep {
  /// One wrapped layer found from its keys.
  public struct Layer: Sendable, Hashable {
    /// What the denoiser wraps.
    public enum Kind: String, Sendable, Hashable {
      /// `DenoiseLinear`: `weight [out, in]`, `dm` a Linear `[in, in]`.
      case linear
      /// `DenoiseConv2d`: `weight [out, in, kh, kw]`, `dm` a Conv2d.
      case conv2d
    }

    /// The layer's name without a trailing dot, such as `base.blocks.0.mlp.fc1`.
    public var prefix: String
    /// Linear or convolution, from the rank of `<prefix>.weight`.
    public var kind: Kind
    /// The shape of `<prefix>.weight`.
    public var weightShape: [Int]
    /// Whether `<prefix>.bias` exists.
    public var hasBias: Bool
    /// Every tensor name the wrapper added (`dm.*`, `time_mlp.*`, `teacher.*`, the schedule buffers), in table order.
    public var leftovers: [String]

    /// Output features (`weight.shape[0]`).
    public var outFeatures: Int { weightShape.first ?? 0 }
    /// Input features (`weight.shape[1]`).
    public var inFeatures: Int { weightShape.count > 1 ? weightShape[1] : 0 }
    /// The name of one of the layer's tensors, such as `dm.weight`.
    public func name(_ suffix: String) -> String { prefix + "." + suffix }
  }

  /// Finds every wrapped layer from its keys, in the order its first key appears.
  ///
  /// A prefix is a wrapped layer when any name below it is `dm.*`, `time_mlp.*`, `teacher.*` or one of the twelve
  /// schedule buffers. The layer's own `weight` must exist; everything else is checked by the pass that needs it.
  ///
  /// - Throws: `invalidModel` when leftovers exist but `<prefix>.weight` does not, or the weight is neither 2-D nor 4-D.
  public static func findLayers(in table: TensorTable) throws(GraftError) -> [Layer] {
    var order: [String] = []
    var leftovers: [String: [String]] = [:]
    var evidence: [String: Int] = [:]
    let buffers = Set(bufferNames)
    for name in table.names {
      guard let (prefix, module) = wrapperPrefix(of: name, buffers: buffers) else { continue }
      if leftovers[prefix] == nil { order.append(prefix) }
      leftovers[prefix, default: []].append(name)
      // A `teacher` child or a lone buffer-like name is not enough: a prefix is a wrapper when it has the noise
      // predictor or time MLP, or most of the schedule buffers.
      if module == "dm" || module == "time_mlp" { evidence[prefix, default: 0] += 100 }
      if module == nil { evidence[prefix, default: 0] += 1 }
    }
    order.removeAll { (evidence[$0] ?? 0) < 6 }
    var layers: [Layer] = []
    for prefix in order {
      let weightName = prefix + ".weight"
      guard let weight = table[weightName] else {
        throw GraftError(
          .invalidModel,
          "missing tensor; DenoiseRep leftovers (\(leftovers[prefix]?.first ?? "")) sit under '\(prefix)' but the "
            + "wrapped layer's weight is absent", tensor: weightName)
      }
      let kind: Layer.Kind
      switch weight.shape.count {
      case 2: kind = .linear
      case 4: kind = .conv2d
      default:
        throw GraftError(
          .invalidModel,
          "has shape \(weight.shape); a DenoiseRep-wrapped layer is a Linear [out, in] or a Conv2d [out, in, kh, kw]",
          tensor: weightName)
      }
      layers.append(
        Layer(
          prefix: prefix, kind: kind, weightShape: weight.shape, hasBias: table.contains(prefix + ".bias"),
          leftovers: leftovers[prefix] ?? []))
    }
    return layers
  }

  /// The wrapped layer a leftover name belongs to and the child module it sits in (`nil` for a buffer).
  static func wrapperPrefix(of name: String, buffers: Set<String>) -> (prefix: String, module: String?)? {
    let parts = name.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count >= 2 else { return nil }
    if let last = parts.last, buffers.contains(String(last)) {
      return (parts.dropLast().joined(separator: "."), nil)
    }
    // The child module is never the first component: a wrapper always has its own prefix.
    for i in 1..<(parts.count - 1) where leftoverModules.contains(String(parts[i])) {
      return (parts[..<i].joined(separator: "."), String(parts[i]))
    }
    return nil
  }
}
