public import GraftCore

/// A parsed PyTorch checkpoint: the unpickled object tree plus the storages its tensors view.
///
/// Nothing is executed and no tensor byte is read: tensors are lazy views of mapped storage records. Use
/// ``table(select:stripPrefixes:)`` to pick a state dict out of a nested training checkpoint,
/// ``treeDescription(maxDepth:)`` to show the object tree, and ``referencedGlobals`` to audit what a pickle would
/// have imported.
public struct PyTorchArchive {
  /// The file's path.
  public let path: String
  /// The object graph.
  public let graph: PickleGraph
  /// A one-line description such as `PyTorch zip (torch >= 1.6), top folder 'archive', pickle protocol 2`.
  public let formatDescription: String
  /// Storage key → bytes.
  let storageBytes: [String: any TensorByteSource]
  /// Whether storages hold big-endian elements.
  let bigEndian: Bool

  init(
    path: String, graph: PickleGraph, formatDescription: String, storageBytes: [String: any TensorByteSource],
    bigEndian: Bool
  ) {
    self.path = path
    self.graph = graph
    self.formatDescription = formatDescription
    self.storageBytes = storageBytes
    self.bigEndian = bigEndian
  }

  /// The object the pickle stores.
  public var root: PickleValue { graph.root }

  // MARK: - Globals

  /// The globals the pickle references beyond the tensor machinery Graft interprets, with the dangerous ones
  /// (process, file-system, code-evaluation and import primitives) flagged.
  public var referencedGlobals: [(name: String, isDangerous: Bool)] {
    graph.globals.filter { !TorchInterpreter.isUnderstood($0) }.map { ($0, PyTorchArchive.isDangerous($0)) }
  }

  /// Whether a global would let a pickle run code, touch files or processes, or import arbitrary modules.
  public static func isDangerous(_ name: String) -> Bool {
    let module = name.split(separator: ".").first.map(String.init) ?? name
    let dangerousModules: Set<String> = [
      "os", "posix", "nt", "subprocess", "sys", "shutil", "socket", "pty", "runpy", "importlib", "ctypes",
      "multiprocessing", "webbrowser", "code", "codeop", "pickle", "_pickle", "marshal", "shelve", "commands",
      "popen2", "platform", "asyncio", "signal", "pip", "setuptools", "pdb", "bdb", "timeit", "cProfile", "profile",
      "threading", "_thread", "urllib", "http", "ftplib", "smtplib", "telnetlib", "requests", "tempfile", "glob",
      "io", "_io", "zipimport", "pkgutil", "dill", "cloudpickle", "joblib",
    ]
    if dangerousModules.contains(module) { return true }
    let dangerousNames: Set<String> = [
      "builtins.eval", "builtins.exec", "builtins.execfile", "builtins.compile", "builtins.open",
      "builtins.getattr", "builtins.setattr", "builtins.delattr", "builtins.__import__", "builtins.input",
      "builtins.breakpoint", "builtins.globals", "builtins.locals", "builtins.vars", "builtins.apply",
      "builtins.file", "builtins.reload", "builtins.memoryview", "__builtin__.eval", "__builtin__.exec",
      "__builtin__.execfile", "__builtin__.compile", "__builtin__.open", "__builtin__.getattr",
      "__builtin__.__import__", "__builtin__.apply", "__builtin__.file", "operator.attrgetter",
      "operator.methodcaller", "operator.itemgetter", "functools.partial", "functools.reduce", "torch.load",
      "torch.jit.load", "torch.hub.load", "numpy.load", "numpy.testing._private.utils.runstring", "types.FunctionType",
      "types.CodeType", "copyreg._reconstructor", "torch.serialization.load", "torch._C._jit_compile",
    ]
    return dangerousNames.contains(name) || name.hasPrefix("builtins.__") || name.hasPrefix("__builtin__.__")
  }

  // MARK: - Tree

  /// The children of a value as (label, value) pairs: dict entries, sequence items, object state.
  static func children(of value: PickleValue) -> [(label: String, value: PickleValue)] {
    guard case .node(let n) = value else { return [] }
    switch n.kind {
    case .tuple, .list, .set:
      return n.items.enumerated().map { (String($0.offset), $0.element) }
    case .dict:
      return n.pairs.map { (label($0.key), $0.value) }
    case .object:
      var out = n.pairs.map { (label: label($0.key), value: $0.value) }
      out += n.appended.enumerated().map { (String($0.offset), $0.element) }
      if let state = n.state {
        if let s = state.node, s.kind == .dict {
          out += s.pairs.map { (label($0.key), $0.value) }
        } else if let s = state.sequence, s.count == 2, let d = s[0].node, d.kind == .dict {
          // (state, slotstate) pairs from __reduce_ex__.
          out += d.pairs.map { (label($0.key), $0.value) }
        } else {
          out.append(("__state__", state))
        }
      }
      return out
    }
  }

  static func label(_ key: PickleValue) -> String {
    switch key {
    case .string(let s): return s
    case .int(let i): return String(i)
    case .bool(let b): return b ? "True" : "False"
    case .none: return "None"
    default: return key.summary
    }
  }

  static func isTensor(_ value: PickleValue) -> Bool {
    guard case .external(let e) = value else { return false }
    if e is TorchTensorRef { return true }
    if let a = e as? NumPyArrayRef { return !a.isScalar && a.tensor != nil }
    return false
  }

  /// Counts tensors under every node once (cycle-safe; a shared subtree is counted where it appears).
  final class Counter {
    var counts: [ObjectIdentifier: Int] = [:]
    var active = Set<ObjectIdentifier>()

    func count(_ value: PickleValue, depth: Int = 0) -> Int {
      if PyTorchArchive.isTensor(value) { return 1 }
      guard case .node(let n) = value, depth < 512 else { return 0 }
      let id = ObjectIdentifier(n)
      if let c = counts[id] { return c }
      guard active.insert(id).inserted else { return 0 }
      var total = 0
      for (_, v) in PyTorchArchive.children(of: value) { total += count(v, depth: depth + 1) }
      active.remove(id)
      counts[id] = total
      return total
    }
  }

  /// The object tree with tensor counts per branch, for `graft inspect`.
  ///
  /// Branches deeper than `maxDepth` are summarised by their tensor count; long runs of tensors are elided.
  public func treeDescription(maxDepth: Int) -> String {
    let counter = Counter()
    var lines: [String] = []
    var visiting = Set<ObjectIdentifier>()
    func describe(_ v: PickleValue) -> String {
      let c = counter.count(v)
      if case .node(let n) = v {
        let what = n.kind == .object ? "<\(n.callable)>" : n.summary
        return c > 0 ? "\(what), \(c) tensor\(c == 1 ? "" : "s")" : what
      }
      return v.summary
    }
    func walk(_ v: PickleValue, indent: String, depth: Int) {
      guard case .node(let n) = v else { return }
      let id = ObjectIdentifier(n)
      guard visiting.insert(id).inserted else { return }
      defer { visiting.remove(id) }
      let kids = PyTorchArchive.children(of: v)
      var shown = 0
      var elidedTensors = 0
      var elidedOthers = 0
      for (label, child) in kids {
        let isLeafTensor = PyTorchArchive.isTensor(child)
        if shown >= 12 && (isLeafTensor || kids.count > 40) {
          if isLeafTensor { elidedTensors += 1 } else { elidedOthers += 1 }
          continue
        }
        shown += 1
        lines.append("\(indent)\(label): \(describe(child))")
        if depth + 1 < maxDepth, case .node = child { walk(child, indent: indent + "  ", depth: depth + 1) }
      }
      if elidedTensors + elidedOthers > 0 {
        var parts: [String] = []
        if elidedTensors > 0 { parts.append("\(elidedTensors) more tensor\(elidedTensors == 1 ? "" : "s")") }
        if elidedOthers > 0 { parts.append("\(elidedOthers) more entr\(elidedOthers == 1 ? "y" : "ies")") }
        lines.append("\(indent)… " + parts.joined(separator: ", "))
      }
    }
    lines.append("(root): \(describe(root))")
    if maxDepth > 0 { walk(root, indent: "  ", depth: 0) }
    if graph.hasCycles { lines.append("(the object graph contains cycles; repeated branches are not expanded)") }
    return lines.joined(separator: "\n")
  }

  // MARK: - State dicts

  /// The paths of dicts that hold tensors, with the number of tensors under each.
  ///
  /// A candidate holds tensors directly, or (like `optimizer.state`) through integer-keyed sub-dicts.
  /// The root is the empty path.
  public var stateDictCandidates: [(path: String, tensorCount: Int)] {
    let counter = Counter()
    var out: [(path: String, tensorCount: Int)] = []
    var seen = Set<ObjectIdentifier>()
    func visit(_ v: PickleValue, path: String, depth: Int) {
      guard case .node(let n) = v, depth < 16, seen.insert(ObjectIdentifier(n)).inserted else { return }
      let kids = PyTorchArchive.children(of: v)
      let direct = kids.filter { PyTorchArchive.isTensor($0.value) }.count
      if direct > 0 && (n.kind == .dict || n.kind == .object) {
        out.append((path, counter.count(v)))
        return
      }
      // A dict keyed by integers whose values are tensor dicts is one optimizer-state-like candidate.
      let dictKids = kids.filter { $0.value.node?.kind == .dict && counter.count($0.value) > 0 }
      if n.kind == .dict, dictKids.count >= 2, dictKids.count == kids.count, kids.allSatisfy({ Int($0.label) != nil }),
        dictKids.allSatisfy({ kid in
          PyTorchArchive.children(of: kid.value).contains { PyTorchArchive.isTensor($0.value) }
        })
      {
        out.append((path, counter.count(v)))
        return
      }
      for (label, child) in kids {
        visit(child, path: path.isEmpty ? label : path + "." + label, depth: depth + 1)
      }
    }
    visit(root, path: "", depth: 0)
    return out
  }

  /// Top-level keys that conventionally hold the model's weights, in order of preference.
  static let modelKeys = ["state_dict", "model", "model_state_dict", "module", "net", "params", "network", "weights"]

  /// Resolves a dotted path (`model`, `optimizer.state`, `ema_state`); keys containing dots match greedily.
  func resolve(_ path: String) -> PickleValue? {
    if path.isEmpty { return root }
    let parts = path.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
    var current = root
    var i = 0
    while i < parts.count {
      let kids = PyTorchArchive.children(of: current)
      var matched = false
      for j in stride(from: parts.count, to: i, by: -1) {
        let key = parts[i..<j].joined(separator: ".")
        if let hit = kids.last(where: { $0.label == key }) {
          current = hit.value
          i = j
          matched = true
          break
        }
      }
      if !matched { return nil }
    }
    return current
  }

  private func describeCandidates(_ list: [(path: String, tensorCount: Int)]) -> String {
    list.map { "\($0.path.isEmpty ? "(root)" : $0.path) (\($0.tensorCount) tensors)" }.joined(separator: ", ")
  }

  /// The path a ``table(select:stripPrefixes:)`` call without `select` would use.
  ///
  /// - Throws: `invalidArgument` listing the candidates when the choice is ambiguous.
  public func automaticSelection() throws(GraftError) -> String {
    let kids = PyTorchArchive.children(of: root)
    let counter = Counter()
    // Conventional keys win over stray top-level tensors (Lightning keeps numpy arrays next to `state_dict`).
    let preferred = PyTorchArchive.modelKeys.filter { key in
      kids.contains { $0.label == key && $0.value.node != nil && counter.count($0.value) > 0 }
    }
    if preferred.count == 1 { return preferred[0] }
    if kids.contains(where: { PyTorchArchive.isTensor($0.value) }) || PyTorchArchive.isTensor(root) { return "" }
    let candidates = stateDictCandidates
    if candidates.isEmpty {
      throw GraftError(.tensorNotFound, "the checkpoint contains no tensors", file: path)
    }
    let nonTraining = candidates.filter { c in
      !["optimizer", "optimizer_states", "lr_scheduler", "lr_schedulers", "scheduler", "trainer"].contains {
        c.path == $0 || c.path.hasPrefix($0 + ".")
      }
    }
    if nonTraining.count == 1 { return nonTraining[0].path }
    if nonTraining.isEmpty && candidates.count == 1 { return candidates[0].path }
    throw GraftError(
      .invalidArgument,
      "the checkpoint holds several tensor collections; choose one with select: "
        + describeCandidates(candidates),
      file: path)
  }

  /// The tensors under `select` (or the automatically chosen state dict) as a flat table.
  ///
  /// Names are the dotted paths below the selected node. Tensors that view the same storage with the same offset,
  /// size, stride and dtype become aliases. Scalars at the top level of the checkpoint (`epoch`, `iteration`) go into
  /// the table's metadata under `checkpoint.<key>`; the scalars of a top-level object or dict holding no tensors (a
  /// training run's `args`) under `checkpoint.<key>.<field>`.
  ///
  /// - Parameters:
  ///   - select: A dotted path such as `model`, `ema_state` or `optimizer.state`; `nil` chooses automatically.
  ///   - stripPrefixes: Prefixes removed from names, repeatedly (so `_orig_mod.module.` nests), e.g. `module.`.
  public func table(select: String?, stripPrefixes: [String]) throws(GraftError) -> TensorTable {
    let chosen: String
    if let select { chosen = select } else { chosen = try automaticSelection() }
    guard let node = resolve(chosen) else {
      throw GraftError(
        .invalidArgument,
        "select '\(chosen)' does not name anything in the checkpoint; candidates: "
          + describeCandidates(stateDictCandidates),
        file: path)
    }
    var leaves: [(String, PickleValue)] = []
    var visiting = Set<ObjectIdentifier>()
    func flatten(_ v: PickleValue, prefix: String, depth: Int) {
      if PyTorchArchive.isTensor(v) {
        leaves.append((prefix, v))
        return
      }
      guard case .node(let n) = v, depth < 256, visiting.insert(ObjectIdentifier(n)).inserted else { return }
      defer { visiting.remove(ObjectIdentifier(n)) }
      for (label, child) in PyTorchArchive.children(of: v) {
        flatten(child, prefix: prefix.isEmpty ? label : prefix + "." + label, depth: depth + 1)
      }
    }
    flatten(node, prefix: "", depth: 0)
    if leaves.isEmpty {
      throw GraftError(
        .tensorNotFound,
        "'\(chosen.isEmpty ? "(root)" : chosen)' holds no tensors; candidates: "
          + describeCandidates(stateDictCandidates),
        file: path)
    }
    var table = TensorTable()
    var firstName: [String: String] = [:]
    for (rawName, value) in leaves {
      var name = rawName
      var stripped = true
      while stripped {
        stripped = false
        for p in stripPrefixes where !p.isEmpty && name.hasPrefix(p) && name.count > p.count {
          name.removeFirst(p.count)
          stripped = true
        }
      }
      guard case .external(let e) = value else { continue }
      let key: String
      if let t = e as? TorchTensorRef {
        key = "s:\(t.storage.key)|\(t.dtype)|\(t.storageOffset)|\(t.shape)|\(t.strides)"
      } else {
        key = "n:\(ObjectIdentifier(e).hashValue)"
      }
      do {
        if let target = firstName[key] {
          try table.appendAlias(name, of: target)
          continue
        }
        if let t = e as? TorchTensorRef {
          try table.append(name, try materialize(t, name: rawName))
        } else if let a = e as? NumPyArrayRef, let t = a.tensor {
          try table.append(name, t)
        } else {
          continue
        }
        firstName[key] = name
      } catch {
        throw GraftError(
          error.code,
          error.code == .duplicateKey
            ? "two tensors are named '\(name)' after stripping prefixes \(stripPrefixes)" : error.message,
          file: path, tensor: error.tensor ?? name, byteOffset: error.byteOffset)
      }
    }
    var metadata = JSONObject()
    let counter = Counter()
    for (label, v) in PyTorchArchive.children(of: root) {
      if let j = PyTorchArchive.scalarJSON(v) {
        metadata["checkpoint." + label] = j
      } else if case .node = v, counter.count(v) == 0 {
        // A run's arguments (timm's `args` Namespace, a `config` dict) say which architecture the tensors are:
        // their scalars, and dicts of scalars as objects, go in as `checkpoint.<label>.<key>`.
        for (key, child) in PyTorchArchive.children(of: v).prefix(Self.maxArgumentEntries) {
          if let j = PyTorchArchive.scalarJSON(child) ?? PyTorchArchive.scalarObject(child) {
            metadata["checkpoint.\(label).\(key)"] = j
          }
        }
      }
    }
    // The root of a plain state dict is no choice worth recording (no empty `checkpoint.selected` in outputs).
    if !chosen.isEmpty { metadata["checkpoint.selected"] = .string(chosen) }
    table.metadata = metadata
    let candidates = stateDictCandidates
    if candidates.count > 1 || candidates.first.map({ $0.path != chosen }) == true {
      table.collection = CollectionChoice(
        selected: chosen, isAutomatic: select == nil,
        candidates: candidates.map { CollectionChoice.Candidate(path: $0.path, tensorCount: $0.tensorCount) })
    }
    return table
  }

  /// The most entries of one top-level argument object (or of a dict inside it) carried into metadata.
  static let maxArgumentEntries = 256

  /// A dict of scalars as a JSON object (entries capped at ``maxArgumentEntries``), or `nil`.
  static func scalarObject(_ v: PickleValue) -> JSONValue? {
    guard case .node(let n) = v, n.kind == .dict else { return nil }
    var object = JSONObject()
    for (key, child) in children(of: v).prefix(maxArgumentEntries) {
      if let j = scalarJSON(child) { object[key] = j }
    }
    return .object(object)
  }

  static func scalarJSON(_ v: PickleValue) -> JSONValue? {
    switch v {
    case .bool(let b): return .bool(b)
    case .int(let i): return .integer(i)
    case .float(let d): return d.isFinite ? .double(d) : .string(String(d))
    case .string(let s): return s.utf8.count <= 1024 ? .string(s) : nil
    case .external(let e):
      if let a = e as? NumPyArrayRef, let s = a.scalarValue { return scalarJSON(s) }
      return nil
    default: return nil
    }
  }

  func materialize(_ t: TorchTensorRef, name: String) throws(GraftError) -> Tensor {
    guard let bytes = storageBytes[t.storage.key] else {
      throw GraftError(
        .invalidTensorInfo, "storage '\(t.storage.key)' has no data record in the file", file: path, tensor: name,
        byteOffset: t.pickleOffset)
    }
    do {
      return try StridedView.tensor(
        storage: bytes, dtype: t.dtype, shape: t.shape, strides: t.strides, offset: t.storageOffset,
        swapBytes: bigEndian)
    } catch {
      var e = error
      e.file = path
      e.tensor = name
      e.byteOffset = e.byteOffset ?? t.pickleOffset
      throw e
    }
  }
}
