public import GraftCore

/// LoRA / PEFT adapters: merging them into a base checkpoint (`W' = W + Σ wᵢ·sᵢ·Bᵢ·Aᵢ`, DoRA's
/// `W' = m ⊙ (W + s·B·A)/‖W + s·B·A‖`) and extracting one from a fine-tuned checkpoint (truncated SVD of `W_tuned − W`).
///
/// Facts from peft 0.21 (`tuners/lora/layer.py`, `dora.py`, `variants.py`, `model.py`): the scaling is `α/r`, or
/// `α/√r` with `use_rslora`; `rank_pattern` / `alpha_pattern` give per-module r and α, matched by
/// `re.match(rf"(.*\.)?({key})$", module)` in the patterns' order; `fan_in_fan_out` stores the weight `[in, out]`
/// (GPT-2's Conv1D) so the delta is transposed; DoRA's norm is per output row of `W + s·B·A` and uses the unmerged
/// base weight; peft's weighted `cat` combination of several adapters is `W + Σ wᵢ·sᵢ·Bᵢ·Aᵢ`.
public enum LoRA {
  /// The prefix peft puts in front of every module name in a saved adapter.
  public static let keyPrefix = "base_model.model."
  /// The lineage operation of a merge.
  public static let mergeOperation = "lora.merge"
  /// The lineage operation of an extraction.
  public static let extractOperation = "lora.extract"

  /// Which modules an adapter configuration selects (`target_modules`, `exclude_modules`).
  public enum ModuleSelector: Sendable, Equatable {
    /// A list: a module matches when its name equals an entry or ends with `.` + the entry.
    case names([String])
    /// A regular expression the whole module name must match (Python `re.fullmatch`).
    case pattern(String)
    /// peft's `all-linear` shorthand.
    case allLinear

    /// Reads `target_modules`-style JSON (a string or a list of strings); `nil` for JSON null.
    init?(json: JSONValue?, key: String) throws(GraftError) {
      switch json {
      case nil, .null?: return nil
      case .string(let s)?: self = s == "all-linear" ? .allLinear : .pattern(s)
      case .array(let a)?:
        var names: [String] = []
        for v in a {
          guard let s = v.stringValue else {
            throw GraftError(.invalidJSON, "'\(key)' holds \(v.kindDescription); expected module names")
          }
          names.append(s)
        }
        self = .names(names)
      case let other?:
        throw GraftError(.invalidJSON, "'\(key)' is \(other.kindDescription); expected a string or a list of names")
      }
    }

    /// Whether the module is selected, as peft's `check_target_module_exists` decides.
    public func matches(_ module: String) throws(GraftError) -> Bool {
      switch self {
      case .allLinear: return true
      case .names(let names): return names.contains { module == $0 || module.hasSuffix("." + $0) }
      case .pattern(let p): return try LoRA.wholeMatch(p, module)
      }
    }

    /// The selector as JSON.
    public var json: JSONValue {
      switch self {
      case .allLinear: return .string("all-linear")
      case .pattern(let p): return .string(p)
      case .names(let n): return .array(n.map(JSONValue.string))
      }
    }
  }

  /// The longest regular expression accepted from an adapter configuration (a guard against pathological
  /// patterns in untrusted files).
  public static let maximumPatternLength = 4096

  /// Whether `text` as a whole matches the regular expression `pattern`.
  static func wholeMatch(_ pattern: String, _ text: String) throws(GraftError) -> Bool {
    guard pattern.utf8.count <= maximumPatternLength else {
      throw GraftError(
        .limitExceeded, "a module pattern of \(pattern.utf8.count) bytes; at most \(maximumPatternLength) are accepted")
    }
    do {
      let regex = try Regex(pattern)
      return try regex.wholeMatch(in: text) != nil
    } catch {
      throw GraftError(.invalidJSON, "'\(pattern)' is not a regular expression this reader understands", cause: nil)
    }
  }

  /// The per-module settings peft reads from `adapter_config.json`.
  public struct AdapterConfig: Sendable {
    /// The default rank.
    public var r: Int
    /// The default α.
    public var alpha: Double
    /// Scale by `α/√r` instead of `α/r`.
    public var useRSLoRA = false
    /// The base weights are stored `[in, out]` (GPT-2 Conv1D).
    public var fanInFanOut = false
    /// The adapter is DoRA (`lora_magnitude_vector` per module).
    public var useDoRA = false
    /// `target_modules`, when given.
    public var targetModules: ModuleSelector?
    /// `exclude_modules`, when given.
    public var excludeModules: ModuleSelector?
    /// `modules_to_save`: modules whose full weights the adapter carries.
    public var modulesToSave: [String] = []
    /// `rank_pattern` in its order.
    public var rankPattern: [(key: String, value: Int)] = []
    /// `alpha_pattern` in its order.
    public var alphaPattern: [(key: String, value: Double)] = []
    /// `bias`: `none`, `all` or `lora_only` (the latter two save trained base biases in the adapter).
    public var bias = "none"

    /// Creates a configuration.
    public init(r: Int, alpha: Double) {
      self.r = r
      self.alpha = alpha
    }

    /// The (r, α) of a module after `rank_pattern` / `alpha_pattern`, and the pattern keys that decided them.
    public func settings(for module: String) throws(GraftError) -> (r: Int, alpha: Double, keys: [String]) {
      var keys: [String] = []
      var r = self.r
      var alpha = self.alpha
      for (key, value) in rankPattern where try LoRA.wholeMatch("(.*\\.)?(\(key))", module) {
        r = value
        keys.append("rank_pattern[\(key)]")
        break
      }
      for (key, value) in alphaPattern where try LoRA.wholeMatch("(.*\\.)?(\(key))", module) {
        alpha = value
        keys.append("alpha_pattern[\(key)]")
        break
      }
      return (r, alpha, keys)
    }

    /// The scaling `α/r` or `α/√r`.
    public func scaling(r: Int, alpha: Double) -> Double {
      useRSLoRA ? alpha / Double(r).squareRoot() : alpha / Double(r)
    }
  }
}
