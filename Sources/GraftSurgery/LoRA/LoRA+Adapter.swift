public import GraftCore

extension LoRA {
  /// One adapter to merge: its configuration, its tensors and its weight in the combination.
  public struct Adapter: Sendable {
    /// A label for reports and errors (the adapter folder).
    public var label: String
    /// The parsed `adapter_config.json`.
    public var config: AdapterConfig
    /// The tensors of `adapter_model.safetensors` / `.bin`, names as saved.
    public var tensors: TensorTable
    /// The factor `w` of `W + w·s·B·A`.
    public var weight: Double

    /// Creates an adapter.
    public init(label: String, config: AdapterConfig, tensors: TensorTable, weight: Double = 1) {
      self.label = label
      self.config = config
      self.tensors = tensors
      self.weight = weight
    }
  }

  /// The tensors one adapter holds for one module.
  struct ModuleTensors {
    var down: String?
    var up: String?
    var magnitude: String?
  }

  /// An adapter's tensors sorted by role: LoRA factors per module, full replacements (`modules_to_save`, trained
  /// biases) by base name, and the keys of other adapter names left out on request.
  struct ParsedAdapter {
    var modules: [(module: String, tensors: ModuleTensors)] = []
    var replacements: [(base: String, key: String)] = []
    var skipped: [String] = []
  }

  /// The roles a key can have, found by its last LoRA marker.
  private static let markers = [
    ".lora_A", ".lora_B", ".lora_magnitude_vector", ".lora_embedding_A", ".lora_embedding_B", ".modules_to_save",
  ]

  /// Sorts an adapter's keys; every key must have a role.
  ///
  /// - Throws: `unsupported` naming embedding LoRA, LoRA on convolutions or LoRA bias keys; `invalidModel` listing
  ///   keys with no role, or naming a module whose A or B is missing; `invalidArgument` naming `adapterName` when
  ///   the file holds several adapter names.
  static func parse(_ adapter: Adapter, adapterName: String?) throws(GraftError) -> ParsedAdapter {
    var parsed = ParsedAdapter()
    var index: [String: Int] = [:]
    var unmatched: [String] = []
    var names = Set<String>()
    for key in adapter.tensors.names {
      let name = key.hasPrefix(keyPrefix) ? String(key.dropFirst(keyPrefix.count)) : key
      guard let (module, marker, tail) = split(name) else {
        if isSavedModule(name, adapter.config) {
          parsed.replacements.append((name, key))
        } else {
          unmatched.append(key)
        }
        continue
      }
      // The tail is `weight`, `<adapter>.weight`, `<adapter>` (magnitude) or `<adapter>.<param>` (modules_to_save).
      var parts = tail.isEmpty ? [] : tail.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
      if marker == ".modules_to_save" {
        guard parts.count >= 2 else {
          unmatched.append(key)
          continue
        }
        let n = parts.removeFirst()
        names.insert(n)
        if let adapterName, n != adapterName {
          parsed.skipped.append(key)
        } else {
          parsed.replacements.append((module + "." + parts.joined(separator: "."), key))
        }
        continue
      }
      if marker == ".lora_embedding_A" || marker == ".lora_embedding_B" {
        throw GraftError(.unsupported, "LoRA on embeddings (lora_embedding_A/B) is not merged yet", tensor: key)
      }
      if parts.last == "bias" {
        throw GraftError(.unsupported, "LoRA bias terms (lora_B.bias) are not merged yet", tensor: key)
      }
      if parts.last == "weight" { parts.removeLast() }
      guard parts.count <= 1, parts.first != "" else {
        unmatched.append(key)
        continue
      }
      if let n = parts.first {
        names.insert(n)
        if let adapterName, n != adapterName {
          parsed.skipped.append(key)
          continue
        }
      }
      let i: Int
      if let existing = index[module] {
        i = existing
      } else {
        i = parsed.modules.count
        index[module] = i
        parsed.modules.append((module, ModuleTensors()))
      }
      switch marker {
      case ".lora_A": parsed.modules[i].tensors.down = key
      case ".lora_B": parsed.modules[i].tensors.up = key
      default: parsed.modules[i].tensors.magnitude = key
      }
    }
    if names.count > 1 && adapterName == nil {
      throw GraftError(
        .invalidArgument,
        "\(adapter.label) holds several adapters (\(names.sorted().joined(separator: ", "))): choose one by name"
      ).resolved(by: "adapterName")
    }
    if !unmatched.isEmpty {
      throw GraftError(
        .invalidModel,
        "\(adapter.label): \(unmatched.count) tensors are neither LoRA factors nor saved modules: "
          + unmatched.prefix(8).joined(separator: ", ") + (unmatched.count > 8 ? ", …" : "")
          + "; check modules_to_save and bias in adapter_config.json")
    }
    for (module, t) in parsed.modules where t.down == nil || t.up == nil {
      throw GraftError(
        .invalidModel,
        "\(adapter.label): module has lora_\(t.down == nil ? "A" : "B") but not lora_\(t.down == nil ? "B" : "A")",
        tensor: module)
    }
    return parsed
  }

  /// Splits `<module><marker>.<tail>` at the last LoRA marker that is followed by a dot or the end.
  private static func split(_ name: String) -> (module: String, marker: String, tail: String)? {
    var best: (String.Index, String)?
    for marker in markers {
      for r in name.ranges(of: marker) where r.upperBound == name.endIndex || name[r.upperBound] == "." {
        if best.map({ r.lowerBound > $0.0 }) ?? true { best = (r.lowerBound, marker) }
      }
    }
    guard let (start, marker) = best else { return nil }
    let module = String(name[..<start])
    let rest = name[name.index(start, offsetBy: marker.count)...]
    return (module, marker, String(rest.drop { $0 == "." }))
  }

  /// Whether a plain key belongs to a module in `modules_to_save`, or is a base bias peft saves with `bias != none`.
  private static func isSavedModule(_ name: String, _ config: AdapterConfig) -> Bool {
    if config.bias != "none" && name.hasSuffix(".bias") { return true }
    return config.modulesToSave.contains { m in
      name.hasPrefix(m + ".") || name.contains("." + m + ".")
    }
  }
}
