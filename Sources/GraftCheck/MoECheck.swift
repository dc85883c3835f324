public import GraftCore
public import GraftEngine
public import GraftSurgery

/// The exactness checks of a dense → MoE conversion (reference §7), run after every recycle or upcycle.
///
/// Structural checks (strict key set, byte-identical non-expert tensors, index sets, bitwise slicing) always apply.
/// Numeric checks run the dense MLP and the MoE layer on seeded Gaussian and LayerNorm-like inputs: a construction
/// that is exact must match to `tolerance`; one that cannot reproduce the dense model is reported with its distance.
public enum MoECheck {
  /// How the checks run.
  public struct Options: Sendable {
    /// Rows per synthetic input kind (Gaussian and LayerNorm-like).
    public var rows = 8
    /// The seed of the inputs.
    public var seed: UInt64 = 0
    /// The relative tolerance `max|y − f| / max|f|` of exact constructions.
    public var tolerance = 1e-5
    /// Whether to run the whole model through the engine as well.
    public var wholeModel = true
    /// Model options (heads) for the whole-model check.
    public var model = VisionTransformer.Options()

    /// Creates the default options.
    public init() {}
  }

  /// Verifies `moe` against `dense` (and `teacher` for teacher-width recycling).
  ///
  /// - Throws: when a checkpoint does not build; failed checks are rows, not errors.
  public static func verify(
    dense: TensorTable, moe: TensorTable, manifest: MoEManifest, teacher: TensorTable? = nil,
    options: Options = Options()
  ) throws(GraftError) -> CheckReport {
    var rows: [CheckReport.Row] = []
    let params = manifest.parameters
    let layout = MoELayout(rawValue: params["layout"]?.stringValue ?? "") ?? .generic
    let method = params["method"]?.stringValue ?? "recycle"
    let source = teacher ?? dense
    let sourceModel = try MoEDenseModel(source)
    let model = try MoEDenseModel(dense)
    rows += try structural(dense: dense, moe: moe, manifest: manifest, model: model, layout: layout)
    rows += try slicing(
      source: source, sourceModel: sourceModel, moe: moe, model: model, manifest: manifest, layout: layout)
    // The experts' activation is the dense model's, as the engine resolves it (never a silent default).
    let activation = try VisionTransformer.configuration(of: dense, options: options.model).activation.value
    if teacher != nil {
      rows.append(
        row(
          name: "function", kind: .report, value: .nan, limit: nil, passed: true,
          note: "teacher-width experts read teacher channels; the student's residual stream is unrelated: "
            + "not function-preserving by design (Weight Selection)"))
    } else {
      for layer in manifest.layers {
        rows += try numeric(
          dense: dense, moe: moe, model: model, layer: layer, layout: layout, method: method, params: params,
          activation: activation, options: options)
      }
      if options.wholeModel {
        rows += try wholeModel(dense: dense, moe: moe, layout: layout, method: method, params: params, options: options)
      }
    }
    return CheckReport(
      kind: "moe",
      header: [
        "MoE checks (exact rows must hold within their limit; info rows measure constructions that are not exact)"
      ],
      columns: columns, rows: rows)
  }

  // MARK: - Structural

  static func structural(
    dense: TensorTable, moe: TensorTable, manifest: MoEManifest, model: MoEDenseModel, layout: MoELayout
  ) throws(GraftError) -> [CheckReport.Row] {
    var rows: [CheckReport.Row] = []
    var expected = Set<String>()
    var converted = Set<String>()
    for layer in manifest.layers {
      let block = model.blocks[layer.block]
      converted.insert(block.prefix)
      for name in expectedKeys(layer: layer, block: block, layout: layout, manifest: manifest) {
        expected.insert(block.prefix + name)
      }
    }
    func inConverted(_ name: String) -> Bool {
      converted.contains { name.hasPrefix($0) }
    }
    for name in dense.names where !inConverted(name) { expected.insert(name) }
    for layer in manifest.layers {
      let p = model.blocks[layer.block].prefix
      for n in dense.names
      where n.hasPrefix(p)
        && !["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"].contains(String(n.dropFirst(p.count)))
      {
        expected.insert(n)
      }
    }
    let actual = Set(moe.names)
    let missing = expected.subtracting(actual).sorted()
    let unexpected = actual.subtracting(expected).sorted()
    rows.append(
      row(
        name: "key set", kind: .structural, value: Double(missing.count + unexpected.count), limit: 0,
        passed: missing.isEmpty && unexpected.isEmpty,
        note: missing.isEmpty && unexpected.isEmpty
          ? "\(actual.count) keys, exactly the \(layout.rawValue) schema"
          : "missing \(missing.prefix(3)) unexpected \(unexpected.prefix(3))"))
    var differing: [String] = []
    var compared = 0
    for name in moe.names where dense.contains(name) {
      guard let a = moe[name], let b = dense[name] else { continue }
      compared += 1
      // The same storage is the same bytes; anything else is streamed side by side.
      let same = (try? RawBytes.equal(a, b, name: name)) ?? false
      if !same { differing.append(name) }
    }
    rows.append(
      row(
        name: "non-expert bytes", kind: .structural, value: Double(differing.count), limit: 0,
        passed: differing.isEmpty,
        note: differing.isEmpty ? "\(compared) tensors byte-identical to the source" : "differ: \(differing.prefix(3))")
    )
    var bad: [String] = []
    let isPartitionMethod = manifest.parameters["method"]?.stringValue == "partition"
    for layer in manifest.layers {
      for (e, s) in layer.expertUnits.enumerated() {
        if s.isEmpty || s != Array(Set(s)).sorted() || (s.last ?? 0) >= layer.hidden || (s.first ?? 0) < 0 {
          bad.append("block \(layer.block) expert \(e)")
        }
      }
      if isPartitionMethod && !layer.isPartition { bad.append("block \(layer.block) is not a disjoint cover") }
    }
    rows.append(
      row(
        name: "index sets", kind: .structural, value: Double(bad.count), limit: 0, passed: bad.isEmpty,
        note: bad.isEmpty
          ? (isPartitionMethod ? "sorted, unique, disjoint and covering" : "sorted, unique, in range")
          : bad.prefix(3).joined(separator: "; ")))
    for layer in manifest.layers {
      let ov = layer.overlap
      rows.append(
        row(
          name: "coverage.\(layer.block)", kind: .report, value: layer.coverage, limit: nil, passed: true,
          note: "overlap (Jaccard) mean \(format(ov.mean)) max \(format(ov.max))"
            + (layer.importanceMass.map {
              " · importance mass per expert " + $0.prefix(4).map(format).joined(separator: " ")
                + ($0.count > 4 ? " …" : "")
            } ?? "")))
    }
    return rows
  }

  /// The MLP-relative keys a converted block must hold.
  static func expectedKeys(
    layer: MoEManifest.Layer, block: MoEDenseModel.Block, layout: MoELayout, manifest: MoEManifest
  ) -> [String] {
    let e = layer.expertUnits.count
    let b1 = block.hasBias1
    let b2 = block.hasBias2
    let partition = manifest.parameters["method"]?.stringValue == "partition"
    switch layout {
    case .generic:
      var keys = ["router.weight"]
      for i in 0..<e {
        keys.append("experts.\(i).fc1.weight")
        if b1 { keys.append("experts.\(i).fc1.bias") }
        keys.append("experts.\(i).fc2.weight")
        if b2 && !partition { keys.append("experts.\(i).fc2.bias") }
      }
      if layer.sharedUnits != nil {
        keys.append("shared_expert.fc1.weight")
        if b1 { keys.append("shared_expert.fc1.bias") }
        keys.append("shared_expert.fc2.weight")
      }
      if partition && b2 { keys.append("output_bias") }
      return keys
    case .jetpack:
      let r = MoERecycle.ratioKey(Double(layer.expertUnits[0].count) / Double(layer.hidden))
      let g = "experts.\(r)."
      return [g + "fc1.weight", g + "fc2.weight"] + (b1 ? [g + "fc1.bias"] : []) + (b2 ? [g + "fc2.bias"] : [])
    case .dualPath:
      var keys = ["phi", "scales.0", "scales.1", "slot_norm.weight", "slot_norm.bias"]
      let groups = ["core_experts."] + ((layer.groups?.universal ?? 0) > 0 ? ["univ_experts."] : [])
      for g in groups {
        keys +=
          [g + "vit_fc1.weight", g + "vit_fc2.weight"] + (b1 ? [g + "vit_fc1.bias"] : [])
          + (b2 ? [g + "vit_fc2.bias"] : [])
      }
      return keys
    }
  }

  // MARK: - Bitwise slicing

  static func slicing(
    source: TensorTable, sourceModel: MoEDenseModel, moe: TensorTable, model: MoEDenseModel, manifest: MoEManifest,
    layout: MoELayout
  ) throws(GraftError) -> [CheckReport.Row] {
    var mismatches: [String] = []
    var checked = 0
    for layer in manifest.layers {
      let sb = sourceModel.blocks[layer.block]
      let p = model.blocks[layer.block].prefix
      guard let w1 = source[sb.prefix + "fc1.weight"], let w2 = source[sb.prefix + "fc2.weight"],
        let size = w1.dtype.byteWidth
      else { continue }
      let d = sourceModel.width
      let h = sb.hidden
      // Each source is addressed in place (mapped) or copied once per layer; expert tensors are streamed.
      let w1b = try addressable(w1, sb.prefix + "fc1.weight")
      let w2b = try addressable(w2, sb.prefix + "fc2.weight")
      let b1b = try source[sb.prefix + "fc1.bias"].map { t throws(GraftError) in
        try addressable(t, sb.prefix + "fc1.bias")
      }
      let b2b = try source[sb.prefix + "fc2.bias"].map { t throws(GraftError) in
        try addressable(t, sb.prefix + "fc2.bias")
      }
      for (e, units) in layer.expertUnits.enumerated() {
        let channels = layer.expertChannels?[e]
        let (names, index) = sliceNames(
          layout: layout, layer: layer, expert: e, method: manifest.parameters["method"]?.stringValue)
        var slices: [(String, Slice)] = [
          (names.fc1, Slice(source: w1b, rows: units, columns: channels, rowLength: d)),
          (names.fc2, Slice(source: w2b, rows: channels ?? Array(0..<d), columns: units, rowLength: h)),
        ]
        if let b1b { slices.append((names.b1, Slice(source: b1b, rows: [0], columns: units, rowLength: h))) }
        if let b2b, let nb2 = names.b2 {
          slices.append((nb2, Slice(source: b2b, rows: [0], columns: channels, rowLength: d)))
        }
        for (name, slice) in slices {
          checked += 1
          guard let t = moe[p + name] else {
            mismatches.append("\(p + name) missing")
            continue
          }
          if try !slice.matches(t, index: index, size: size, name: p + name) {
            mismatches.append("\(p + name)[\(index)]")
          }
        }
      }
    }
    return [
      row(
        name: "slicing", kind: .structural, value: Double(mismatches.count), limit: 0, passed: mismatches.isEmpty,
        note: mismatches.isEmpty
          ? "\(checked) expert tensors are bitwise slices of the source (fc1 rows, b1, fc2 columns, b2)"
          : mismatches.prefix(3).joined(separator: "; "))
    ]
  }

  /// The tensor names holding expert `e` and the index along their stacking axis (0 when unstacked).
  static func sliceNames(
    layout: MoELayout, layer: MoEManifest.Layer, expert e: Int, method: String?
  )
    -> (names: (fc1: String, fc2: String, b1: String, b2: String?), index: Int)
  {
    switch layout {
    case .generic:
      let g = "experts.\(e)."
      return ((g + "fc1.weight", g + "fc2.weight", g + "fc1.bias", method == "partition" ? nil : g + "fc2.bias"), 0)
    case .jetpack:
      let g = "experts.\(MoERecycle.ratioKey(Double(layer.expertUnits[0].count) / Double(layer.hidden)))."
      return ((g + "fc1.weight", g + "fc2.weight", g + "fc1.bias", g + "fc2.bias"), e)
    case .dualPath:
      let core = layer.groups?.core ?? layer.expertUnits.count
      let g = e < core ? "core_experts." : "univ_experts."
      return (
        (g + "vit_fc1.weight", g + "vit_fc2.weight", g + "vit_fc1.bias", g + "vit_fc2.bias"), e < core ? e : e - core
      )
    }
  }

  /// The tensor's bytes addressable in place: the mapping itself, or one heap copy of produced bytes.
  static func addressable(_ t: Tensor, _ name: String) throws(GraftError) -> any TensorByteSource {
    t.bytes.contiguousBytes != nil ? t.bytes : HeapBytes(try bytes(t, name))
  }

  /// Elements `rows` × `columns` (`nil`: all) of a row-major source of `rowLength` elements per row.
  struct Slice {
    var source: any TensorByteSource
    var rows: [Int]
    var columns: [Int]?
    var rowLength: Int

    /// Whether block `index` of `t` (its bytes cut into blocks of this slice's size) holds exactly this slice:
    /// both streamed a few rows at a time side by side, so no expert is ever held whole.
    func matches(_ t: Tensor, index: Int, size: Int, name: String) throws(GraftError) -> Bool {
      guard let whole = source.contiguousBytes else { return false }
      let columns = columns ?? Array(0..<rowLength)
      let rowBytes = columns.count * size
      let start = index * rows.count * rowBytes
      guard rowBytes > 0, start + rows.count * rowBytes <= t.byteCount else { return false }
      let step = max(1, (1 << 20) / rowBytes)
      let got = UnsafeMutableRawBufferPointer.allocate(byteCount: step * rowBytes, alignment: 64)
      defer { got.deallocate() }
      let want = UnsafeMutableRawBufferPointer.allocate(byteCount: step * rowBytes, alignment: 64)
      defer { want.deallocate() }
      var r = 0
      while r < rows.count {
        let n = min(step, rows.count - r)
        let range = (start + r * rowBytes)..<(start + (r + n) * rowBytes)
        let view = UnsafeMutableRawBufferPointer(rebasing: got[0..<range.count])
        do { try t.bytes.copyBytes(in: range, into: view) } catch {
          throw GraftError.reading(error, tensor: name)
        }
        let count = RawBytes.gather(
          whole, rows: rows[r..<(r + n)], columns: columns, rowLength: rowLength, size: size, into: want)
        guard RawBytes.equal(UnsafeRawBufferPointer(view), UnsafeRawBufferPointer(rebasing: want[0..<count])) else {
          return false
        }
        r += n
      }
      return true
    }
  }

  static func bytes(_ t: Tensor, _ name: String) throws(GraftError) -> [UInt8] {
    do { return try t.readAllBytes() } catch {
      throw GraftError.reading(error, tensor: name)
    }
  }

  /// A number as the MoE table shows it: three significant digits, `—` for none.
  static func format(_ v: Double) -> String { v.isNaN ? "—" : Format.scientific(v, paddedExponent: false) }

  /// The table's columns: what a row claims, the measured value and the limit it must stay under.
  static let columns: [CheckReport.Column] = [
    .init("kind", "kind", width: 10, alignRight: false), .init("value", "value", width: 10),
    .init("limit", "limit", width: 8),
  ]

  /// What an MoE row claims.
  enum Kind: String {
    /// Keys, bytes, index sets: counted, the limit is 0.
    case structural
    /// Exact by construction: the relative error must stay under the limit.
    case exact
    /// A predicted non-dense result (such as `y = (Σg)·f`), checked within the limit.
    case predicted
    /// Cannot reproduce the dense model: the value says how far it is (informational).
    case report
  }

  /// One row of the MoE table.
  static func row(
    name: String, kind: Kind, value: Double, limit: Double?, passed: Bool, note: String
  ) -> CheckReport.Row {
    var values: [String: CheckReport.Value] = ["kind": .text(kind.rawValue)]
    if kind == .structural {
      values["value"] = value.isFinite ? .integer(Int(value)) : .number(value, .scientific)
      if let limit { values["limit"] = .integer(Int(limit)) }
    } else {
      values["value"] = .number(value, .scientific)
      if let limit { values["limit"] = .number(limit, .scientific) }
    }
    let outcome: CheckReport.Outcome = kind == .report ? (passed ? .info : .failed) : (passed ? .passed : .failed)
    return CheckReport.Row(name, outcome, values, note: note)
  }

}
