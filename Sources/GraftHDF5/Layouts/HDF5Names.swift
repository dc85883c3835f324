import GraftCore

/// The mapping between tensor names and HDF5 paths for each layout (documented in `Formats/hdf5.md`).
enum HDF5Names {
  /// The HDF5 path of a tensor in the plain layout: `a.b.c` → `/a/b/c`, or `/a.b.c` in flat mode.
  static func plainPath(of name: String, flat: Bool) throws(GraftError) -> [String] {
    if flat {
      guard !name.isEmpty, !name.contains("/"), name != ".", name != ".." else {
        throw GraftError(.invalidArgument, "an HDF5 link name cannot be empty or contain '/'", tensor: name)
      }
      return [name]
    }
    let parts = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
    guard !parts.contains(where: { $0.isEmpty || $0.contains("/") }) else {
      throw GraftError(
        .invalidArgument,
        "the name has an empty component or a '/', so it has no nested HDF5 path; write with the flat option",
        tensor: name)
    }
    return parts
  }

  /// The tensor name of a dataset path in the plain and Keras 3 layouts: `/a/b/c` → `a.b.c`.
  static func plainName(of components: [String]) -> String { components.joined(separator: ".") }

  /// The tensor name of a Keras 2 weight: layer `dense`, weight `dense/kernel:0` (tf.keras 2) or
  /// `sequential/dense/kernel` (Keras 3's legacy writer) → `dense.kernel`.
  ///
  /// Path components up to and including the layer's own name are dropped, as is a `:0` suffix, so both writers give
  /// the same name; a nested model's weights keep their inner path (`model_1.dense_3.kernel`).
  static func keras2Name(layer: String, weight: String) -> String {
    var text = Substring(weight)
    if let colon = text.lastIndex(of: ":"), text[text.index(after: colon)...].allSatisfy(\.isNumber) {
      text = text[..<colon]
    }
    var parts = text.split(separator: "/").map(String.init)
    if let own = parts.lastIndex(of: layer), own < parts.count - 1 { parts.removeFirst(own + 1) }
    return ([layer] + parts).joined(separator: ".")
  }

  /// The layer and weight path under which a tensor is written in the Keras 2 layout.
  ///
  /// Keras 3 style names (`layers.dense.vars.0`) use the layer's group name; otherwise the first component is the
  /// layer (`dense.kernel` → layer `dense`, weight `dense/kernel`).
  static func keras2Location(of name: String) throws(GraftError) -> (layer: String, weight: String) {
    if let k3 = keras3Parts(name) {
      return (k3.layerPath.last ?? "model", (k3.layerPath + [k3.index]).joined(separator: "/"))
    }
    let parts = try plainPath(of: name, flat: false)
    guard parts.count >= 2 else {
      throw GraftError(
        .invalidArgument, "a Keras 2 weight name needs a layer and a variable ('dense.kernel')", tensor: name)
    }
    return (parts[0], parts.joined(separator: "/"))
  }

  /// Splits a Keras 3 name `layers.x.layers.y.vars.3` into its layer path (`layers`, `x`, `layers`, `y`) and
  /// variable index (`3`); `nil` for other names.
  static func keras3Parts(_ name: String) -> (layerPath: [String], index: String)? {
    let parts = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
    guard parts.count >= 2, parts[parts.count - 2] == "vars", let last = parts.last, !last.isEmpty,
      last.allSatisfy(\.isNumber), !parts.contains(where: \.isEmpty)
    else { return nil }
    return (Array(parts.dropLast(2)), last)
  }

  /// The HDF5 paths of tensors whose names are already in Keras 3 form (`layers.dense.vars.0` →
  /// `layers/dense/vars/0`); other names are laid out by ``KerasModelOrder``.
  static func keras3Paths(of names: [String]) throws(GraftError) -> [String: [String]] {
    var result: [String: [String]] = [:]
    for name in names {
      guard let k3 = keras3Parts(name) else {
        throw GraftError(.invalidArgument, "not a Keras 3 weight name ('layers.dense.vars.0')", tensor: name)
      }
      result[name] = k3.layerPath + ["vars", k3.index]
    }
    var seen: [[String]: String] = [:]
    for name in names {
      guard let path = result[name] else { continue }
      if let other = seen[path] {
        throw GraftError(
          .duplicateKey, "maps to the same Keras 3 path /\(path.joined(separator: "/")) as '\(other)'", tensor: name)
      }
      seen[path] = name
    }
    return result
  }
}
