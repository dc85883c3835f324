public import GraftCore

/// Picks one set of weights out of a training checkpoint (the EMA by default) and drops the rest: the other weights,
/// optimizer and scheduler state, with what was dropped reported by size.
///
/// Facts (timm `checkpoint_saver.py`, mmengine `ema_hook.py`, detectron2/detrex `ema.py`, Lightning, DeepSpeed): the
/// EMA lives in `state_dict_ema` (timm), `model_ema`, `ema_state` (detectron2), a Lightning callback's state, or —
/// after mmengine's `EMAHook.before_save_checkpoint` swap — in `state_dict`, while `ema_state_dict` then holds the
/// raw weights (`module.`-prefixed, plus `steps`). DeepSpeed nests the model under `module`.
public enum EMAExtract {
  /// What a section holds.
  public enum Role: String, Sendable {
    /// EMA weights.
    case ema
    /// Model weights (not an EMA).
    case model
    /// Optimizer, scheduler, scaler or trainer state.
    case trainingState = "training state"
  }

  /// One tensor-holding part of the checkpoint and what it was recognised as.
  public struct Candidate: Sendable {
    /// The section path.
    public var path: String
    /// What it holds.
    public var role: Role
    /// Tensors (aliases included).
    public var tensors: Int
    /// Bytes (aliases counted once).
    public var bytes: Int
    /// Why the role was given, when it is not obvious from the name.
    public var note: String?
  }

  /// Options of ``extract(_:options:)``.
  public struct Options: Sendable {
    /// The section to keep; `nil` keeps the one EMA candidate.
    public var source: String?
    /// Prefixes removed from the kept names (`module.`, `model.`), repeatedly.
    public var stripPrefixes: [String] = []
    /// The tool recorded in the lineage.
    public var tool = "graft"

    /// Creates default options.
    public init() {}
  }

  /// What ``extract(_:options:)`` did.
  public struct Report: Sendable {
    /// The kept section.
    public var source: Candidate
    /// Every section and its role.
    public var candidates: [Candidate]
    /// The number of kept tensors.
    public var keptTensors: Int
    /// The dropped sections.
    public var dropped: [Candidate]
    /// Top-level scalars not carried into the output (`epoch`, …).
    public var droppedScalars: [String]
    /// Things the caller should know (a common prefix left on the names, how mmengine's swap was read).
    public var notes: [String]

    /// The report as JSON.
    public var json: JSONValue {
      func entry(_ c: Candidate) -> JSONValue {
        .object(
          JSONObject([
            ("path", .string(c.path)), ("role", .string(c.role.rawValue)), ("tensors", .integer(c.tensors)),
            ("bytes", .integer(c.bytes)), ("note", c.note.map(JSONValue.string) ?? .null),
          ]))
      }
      return .object(
        JSONObject([
          ("operation", .string("ema.extract")), ("source", entry(source)), ("kept_tensors", .integer(keptTensors)),
          ("dropped", .array(dropped.map(entry))), ("dropped_scalars", .array(droppedScalars.map(JSONValue.string))),
          ("notes", .array(notes.map(JSONValue.string))),
        ]))
    }
  }

  /// First path components that hold training state.
  public static let trainingStateKeys: Set<String> = [
    "optimizer", "optimizers", "optimizer_states", "optimizer_state_dict", "lr_scheduler", "lr_schedulers",
    "scheduler", "schedulers", "scaler", "grad_scaler", "amp", "loops", "trainer",
  ]

  /// The role of every section.
  public static func candidates(_ checkpoint: TrainingCheckpoint) -> [Candidate] {
    let mmengineSwap = checkpoint.section("ema_state_dict").map(isMMEngineRaw) ?? false
    return checkpoint.sections.map { s in
      let first = String(s.path.split(separator: ".").first ?? "")
      var role = Role.model
      var note: String?
      if trainingStateKeys.contains(first) {
        role = .trainingState
      } else if mmengineSwap && s.path == "ema_state_dict" {
        note = "mmengine EMAHook: the raw weights (the hook swaps the EMA into state_dict before saving)"
      } else if mmengineSwap && s.path == "state_dict" {
        role = .ema
        note = "mmengine EMAHook swapped the EMA into state_dict before saving"
      } else if s.path.split(separator: ".").contains(where: { tokens(String($0)).contains("ema") }) {
        role = .ema
      }
      return Candidate(path: s.path, role: role, tensors: s.table.count, bytes: s.table.storedByteCount, note: note)
    }
  }

  /// Keeps one section and drops everything else.
  ///
  /// - Throws: `invalidArgument` naming `source` when no EMA or several are found (listing the candidates) or the
  ///   source names no section; `duplicateKey` when stripping prefixes makes two names equal.
  public static func extract(
    _ checkpoint: TrainingCheckpoint, options: Options = Options()
  ) throws(GraftError) -> (table: TensorTable, report: Report) {
    let all = candidates(checkpoint)
    let listing = all.map { "\($0.path.isEmpty ? "(root)" : $0.path) (\($0.role.rawValue), \($0.tensors) tensors)" }
      .joined(separator: ", ")
    let chosen: Candidate
    if let source = options.source {
      guard let c = all.first(where: { $0.path == source }) else {
        throw GraftError(.invalidArgument, "no section '\(source)' in the checkpoint; sections: \(listing)")
          .resolved(by: "source")
      }
      chosen = c
    } else {
      let emas = all.filter { $0.role == .ema }
      guard emas.count == 1, let only = emas.first else {
        throw GraftError(
          .invalidArgument,
          (emas.isEmpty
            ? "no EMA weights found" : "several EMA candidates (\(emas.map(\.path).joined(separator: ", ")))")
            + "; choose the section to keep: \(listing)"
        ).resolved(by: "source")
      }
      chosen = only
    }
    guard var table = checkpoint.section(chosen.path)?.table else {
      throw GraftError(.invalidArgument, "no section '\(chosen.path)'").resolved(by: "source")
    }
    for prefix in options.stripPrefixes where !prefix.isEmpty {
      do {
        try table.rename { name in
          var n = name
          while n.hasPrefix(prefix) && n.count > prefix.count { n.removeFirst(prefix.count) }
          return n
        }
      } catch let error as GraftError {
        throw error
      } catch {
        throw GraftError(.duplicateKey, "stripping '\(prefix)' made two names equal")
      }
    }
    var notes = all.compactMap { c in c.note.map { "\(c.path): \($0)" } }
    for prefix in ["module.", "model.", "_orig_mod."]
    where !table.isEmpty && table.names.allSatisfy({ $0.hasPrefix(prefix) }) {
      notes.append(
        "every kept name starts with '\(prefix)'; strip it with stripPrefixes if the model expects bare names")
    }
    table.metadata = JSONObject()
    var parameters = JSONObject()
    parameters["source"] = .string(chosen.path)
    table.lineage.append(LineageRecord(operation: "ema.extract", tool: options.tool, parameters: .object(parameters)))
    let report = Report(
      source: chosen, candidates: all, keptTensors: table.count, dropped: all.filter { $0.path != chosen.path },
      droppedScalars: checkpoint.metadata.keys.filter { $0.hasPrefix("checkpoint.") && $0 != "checkpoint.selected" },
      notes: notes)
    return (table, report)
  }

  /// Whether `ema_state_dict` is mmengine's raw copy: `module.`-prefixed names plus a `steps` counter.
  private static func isMMEngineRaw(_ s: TrainingCheckpoint.Section) -> Bool {
    s.table.contains("steps") && s.table.names.allSatisfy { $0 == "steps" || $0.hasPrefix("module.") }
  }

  /// A name's lowercased words: split at non-alphanumerics and at lower→upper and ACRONYM→Word boundaries.
  public static func tokens(_ name: String) -> [String] {
    var words: [String] = []
    var current = ""
    let chars = Array(name)
    for (i, c) in chars.enumerated() {
      guard c.isLetter || c.isNumber else {
        if !current.isEmpty { words.append(current) }
        current = ""
        continue
      }
      let previous = i > 0 ? chars[i - 1] : nil
      let next = i + 1 < chars.count ? chars[i + 1] : nil
      let boundary =
        c.isUppercase
        && ((previous?.isLowercase ?? false) || ((previous?.isUppercase ?? false) && (next?.isLowercase ?? false)))
      if boundary && !current.isEmpty {
        words.append(current)
        current = ""
      }
      current.append(c)
    }
    if !current.isEmpty { words.append(current) }
    return words.map { $0.lowercased() }
  }
}
