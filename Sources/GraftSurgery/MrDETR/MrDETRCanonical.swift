public import GraftCore

/// Renames a stripped Mr.DETR decoder to the stock detrex Deformable-DETR layout.
///
/// Stock detrex runs `("self_attn","norm","cross_attn","norm","ffn","norm")`, Mr.DETR keeps the post-self-attention
/// norm inside the attention module (`norm_o2o`). `out = LN(identity + attn)` in both, so the renaming is exact.
/// The steps run in the order that never collides: `norms.1→2`, `norms.0→1`, `norm_o2o→norms.0`, then the FFN.
public enum MrDETRCanonical {
  /// One step: within a decoder layer, names starting with `from` get `to` instead.
  public static let steps: [(from: String, to: String)] = [
    ("norms.1.", "norms.2."),
    ("norms.0.", "norms.1."),
    ("attentions.0.norm_o2o.", "norms.0."),
    ("ffns.0.layers.0.linear.linear.", "ffns.0.layers.0.0."),
    ("ffns.0.layers.1.linear.", "ffns.0.layers.1."),
  ]

  /// Applies the steps in order; returns each tensor's original and final name.
  ///
  /// - Throws: `invalidModel` when auxiliary keys are still present (strip first), `duplicateKey` on a collision.
  public static func rename(_ table: inout TensorTable) throws(GraftError) -> [(from: String, to: String)] {
    if let aux = table.names.first(where: { $0.contains(".linear_sep.") || $0.contains(".norm_o2m.") }) {
      throw GraftError(
        .invalidModel, "the detrex layout has no auxiliary routes; strip them before renaming", tensor: aux)
    }
    let original = table.names
    for step in steps {
      do {
        try table.rename { name in
          guard let rest = layerRelative(name), rest.hasPrefix(step.from) else { return nil }
          return String(name.dropLast(rest.count)) + step.to + rest.dropFirst(step.from.count)
        }
      } catch let e as GraftError {
        throw e
      } catch {
        throw GraftError(.invalidModel, "renaming \(step.from) → \(step.to) failed: \(error)")
      }
    }
    return zip(original, table.names).filter { $0 != $1 }.map { (from: $0, to: $1) }
  }

  /// The Mr.DETR name of a tensor named in the detrex layout (the steps undone in reverse order).
  public static func originalName(of name: String) -> String {
    var n = name
    for step in steps.reversed() {
      guard let rest = layerRelative(n), rest.hasPrefix(step.to) else { continue }
      n = String(n.dropLast(rest.count)) + step.from + rest.dropFirst(step.to.count)
    }
    return n
  }

  /// The part of a decoder-layer name after `transformer.decoder.layers.N.`, or `nil`.
  static func layerRelative(_ name: String) -> Substring? {
    let prefix = "transformer.decoder.layers."
    guard name.hasPrefix(prefix) else { return nil }
    let afterPrefix = name.dropFirst(prefix.count)
    guard let dot = afterPrefix.firstIndex(of: "."), afterPrefix[..<dot].allSatisfy(\.isNumber) else { return nil }
    return afterPrefix[afterPrefix.index(after: dot)...]
  }
}
