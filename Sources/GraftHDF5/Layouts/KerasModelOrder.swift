import GraftCore

/// What a Keras file needs beyond the tensors: the order of the layers and of each layer's weights, and for Keras 3
/// the class of each layer.
///
/// Keras 2 files are loaded by position (`layer_names`, then each layer's `weight_names`), and Keras 3 files name
/// each layer's group after its class (`layers/conv2d/vars/0`, `layers/batch_normalization_1/vars/3`), numbering the
/// variables in creation order. Neither can be recovered from tensor names: `bn.beta` sorts before `bn.gamma`, and
/// `conv` does not say `Conv2D`. The Keras 2 reader records the order under ``orderKey``; a Keras 2 full-model file
/// (`model.save("x.h5")`) also carries the classes in its `model_config`. Both survive conversions through any
/// format, so a checkpoint that came from Keras can go back to it; without them writing is refused.
struct KerasModelOrder {
  /// The metadata key holding the tensor names in Keras order (a JSON array, or its text in safetensors metadata).
  static let orderKey = "hdf5.keras2.weight_order"

  /// The layers in model order, each with its weights (table names) in creation order.
  var layers: [(name: String, weights: [String])]

  /// The order recorded in `table`'s metadata, restricted to the names the table holds.
  ///
  /// - Throws: `invalidArgument` (resolved by the HDF5 layout option) when no order is recorded or a tensor is
  ///   not in it; `purpose` says which file needs it.
  init(_ table: TensorTable, purpose: String) throws(GraftError) {
    guard let recorded = KerasModelOrder.recordedNames(table.metadata[KerasModelOrder.orderKey]) else {
      throw GraftError(
        .invalidArgument,
        "\(purpose), and this checkpoint does not record that order (metadata '\(KerasModelOrder.orderKey)', "
          + "which Graft keeps when it reads a Keras 2 file); convert from the Keras 2 file itself, or write the "
          + "plain layout"
      ).resolved(by: "hdf5Layout")
    }
    let present = Set(table.names)
    let known = Set(recorded)
    if let stray = table.names.first(where: { !known.contains($0) }) {
      throw GraftError(
        .invalidArgument,
        "\(purpose), and this tensor is not in the order recorded when the checkpoint was read from Keras (it was "
          + "added or renamed since)", tensor: stray
      ).resolved(by: "hdf5Layout")
    }
    var layers: [(name: String, weights: [String])] = []
    var index: [String: Int] = [:]
    for name in recorded where present.contains(name) {
      let layer = name.split(separator: ".", maxSplits: 1).first.map(String.init) ?? name
      if let k = index[layer] {
        layers[k].weights.append(name)
      } else {
        index[layer] = layers.count
        layers.append((layer, [name]))
      }
    }
    self.layers = layers
  }

  /// The names of an order record: a JSON array of strings, or the text of one.
  static func recordedNames(_ value: JSONValue?) -> [String]? {
    var value = value
    if let text = value?.stringValue {
      value = Array(text.utf8).withUnsafeBytes { try? JSONParser.parse($0, file: orderKey) }
    }
    guard let items = value?.arrayValue else { return nil }
    let names = items.compactMap(\.stringValue)
    return names.count == items.count ? names : nil
  }

  /// The Keras 3 group name of every layer of `table`'s `model_config` (a Keras 2 full-model file's), keyed by the
  /// layer's own name: its class in snake case, numbered from the second layer of a class on (`conv2d`,
  /// `conv2d_1`), in model order, as Keras 3's saver names them.
  ///
  /// - Throws: `invalidArgument` when there is no model config, it lists no layers, or a layer is itself a model
  ///   (nested models are not written).
  static func keras3GroupNames(_ table: TensorTable, purpose: String) throws(GraftError) -> [String: String] {
    var config = table.metadata["model_config"]
    if let text = config?.stringValue {
      config = Array(text.utf8).withUnsafeBytes { try? JSONParser.parse($0, file: "model_config") }
    }
    guard let layers = config?["config"]?["layers"]?.arrayValue else {
      throw GraftError(
        .invalidArgument,
        "\(purpose), and this checkpoint does not say which class each layer is: it has no 'model_config' "
          + "metadata (a Keras 2 file saved with model.save has one; a save_weights file does not); write the "
          + "keras2 or plain layout"
      ).resolved(by: "hdf5Layout")
    }
    var used: [String: Int] = [:]
    var result: [String: String] = [:]
    for layer in layers {
      guard let className = layer["class_name"]?.stringValue,
        let name = layer["config"]?["name"]?.stringValue ?? layer["name"]?.stringValue
      else { continue }
      if ["Sequential", "Functional", "Model"].contains(className) {
        throw GraftError(
          .unsupported,
          "\(purpose), and layer '\(name)' is a nested \(className) model, whose variables Graft does not lay out "
            + "for Keras 3; write the keras2 or plain layout")
      }
      let base = snakeCase(className)
      if let n = used[base] {
        used[base] = n + 1
        result[name] = base + "_\(n + 1)"
      } else {
        used[base] = 0
        result[name] = base
      }
    }
    return result
  }

  /// Keras' `to_snake_case`: drop non-word characters, `_` before a capital that starts a lowercase run (not at
  /// the start), `_` between a lowercase letter and a capital, then lowercase (`BatchNormalization` →
  /// `batch_normalization`, `Conv2D` → `conv2d`).
  static func snakeCase(_ name: String) -> String {
    let isUpper = { (c: Character) in c.isASCII && c.isUppercase }
    let isLower = { (c: Character) in c.isASCII && c.isLowercase }
    let word = Array(name.filter { $0.isLetter || $0.isNumber || $0 == "_" })
    // re.sub("(.)([A-Z][a-z]+)", r"\1_\2"): non-overlapping matches, left to right.
    var first: [Character] = []
    var i = 0
    while i < word.count {
      if i + 2 < word.count, isUpper(word[i + 1]), isLower(word[i + 2]) {
        var j = i + 2
        while j < word.count && isLower(word[j]) { j += 1 }
        first.append(word[i])
        first.append("_")
        first.append(contentsOf: word[(i + 1)..<j])
        i = j
      } else {
        first.append(word[i])
        i += 1
      }
    }
    // re.sub("([a-z])([A-Z])", r"\1_\2").
    var second: [Character] = []
    i = 0
    while i < first.count {
      if i + 1 < first.count, isLower(first[i]), isUpper(first[i + 1]) {
        second.append(contentsOf: [first[i], "_", first[i + 1]])
        i += 2
      } else {
        second.append(first[i])
        i += 1
      }
    }
    return String(second).lowercased()
  }
}
