public import GraftCore

/// Checkpoint averaging (uniform or weighted, N checkpoints of one architecture) and interpolation of two (linear or
/// spherical), streamed tensor by tensor: every output tensor is produced from its inputs only when a writer reads
/// it, one chunk of Float64 at a time, so memory does not grow with N.
///
/// timm's `avg_checkpoints.py` (the reference for `timmCompatible`): every tensor, integers included, is cast to
/// float64, summed in checkpoint order, divided by the count, clamped to the float32 range and saved as float32.
/// Graft's default keeps each tensor's dtype (one rounding of the float64 result) and takes integer and bool tensors
/// (`num_batches_tracked`) from the last checkpoint, since averaging a counter is not meaningful.
public enum CheckpointAverage {
  /// The lineage operation of an average.
  public static let averageOperation = "average"
  /// The lineage operation of an interpolation.
  public static let interpolateOperation = "interpolate"

  /// How two checkpoints are interpolated.
  public enum Method: String, Sendable, CaseIterable {
    /// `(1 − t)·a + t·b`.
    case linear
    /// Spherical per tensor: `sin((1−t)θ)/sin θ·a + sin(tθ)/sin θ·b`, θ the angle between the flattened tensors;
    /// linear when |cos θ| > 0.9995 or a tensor is (nearly) zero.
    case slerp
  }

  /// Options of ``average(_:options:)``.
  public struct Options: Sendable {
    /// Per-checkpoint weights (`Σ wᵢ·θᵢ`); `nil` is the uniform mean (`Σ θᵢ / N`, summed then divided like timm).
    public var weights: [Double]?
    /// timm's `avg_checkpoints` output rules: integers averaged too, every tensor clamped and written as float32.
    public var timmCompatible = false
    /// The tool recorded in the lineage.
    public var tool = "graft"

    /// Creates default options.
    public init() {}
  }

  /// What a combination did.
  public struct Report: Sendable {
    /// `average`, `average (timm)` or `interpolate linear t=0.3`.
    public var rule: String
    /// The number of inputs.
    public var inputs: Int
    /// The weights, when given (or `[1 − t, t]`).
    public var weights: [Double]?
    /// Tensors computed from the inputs.
    public var combined: Int
    /// Integer and bool tensors copied from the last input.
    public var takenFromLast: [String]
    /// For SLERP: tensors that fell back to linear (nearly colinear or zero).
    public var linearFallbacks: [String]

    /// The report as JSON.
    public var json: JSONValue {
      .object(
        JSONObject([
          ("rule", .string(rule)), ("inputs", .integer(inputs)),
          ("weights", weights.map { .array($0.map(JSONValue.double)) } ?? .null), ("combined", .integer(combined)),
          ("taken_from_last", .array(takenFromLast.map(JSONValue.string))),
          ("linear_fallbacks", .array(linearFallbacks.map(JSONValue.string))),
        ]))
    }
  }

  /// Checks that every table has the first one's names, shapes and dtypes.
  ///
  /// - Throws: `invalidModel` naming the first tensor that is missing, extra or different, and the input's index.
  public static func checkCompatible(_ tables: [TensorTable]) throws(GraftError) {
    guard let first = tables.first else { throw GraftError(.invalidArgument, "no checkpoint to combine") }
    for (i, t) in tables.enumerated().dropFirst() {
      for e in first.entries {
        guard let other = t[e.name] else {
          throw GraftError(.invalidModel, "is in checkpoint 1 but not in checkpoint \(i + 1)", tensor: e.name)
        }
        guard other.shape == e.tensor.shape, other.dtype == e.tensor.dtype else {
          throw GraftError(
            .invalidModel,
            "is \(e.tensor.dtype) \(e.tensor.shape) in checkpoint 1 but \(other.dtype) \(other.shape) in checkpoint "
              + "\(i + 1)",
            tensor: e.name)
        }
      }
      if let extra = t.names.first(where: { !first.contains($0) }) {
        throw GraftError(.invalidModel, "is in checkpoint \(i + 1) but not in checkpoint 1", tensor: extra)
      }
    }
  }

  /// Averages N checkpoints of one architecture.
  ///
  /// - Throws: `invalidArgument` naming `weights` when their count differs from the inputs' or one is not finite;
  ///   the errors of ``checkCompatible(_:)``.
  public static func average(
    _ tables: [TensorTable], options: Options = Options()
  ) throws(GraftError) -> (table: TensorTable, report: Report) {
    try checkCompatible(tables)
    if let w = options.weights, w.count != tables.count || !w.allSatisfy(\.isFinite) {
      throw GraftError(
        .invalidArgument, "\(w.count) weights for \(tables.count) checkpoints; give one finite weight per checkpoint"
      ).resolved(by: "weights")
    }
    let rule = options.timmCompatible ? "average (timm avg_checkpoints)" : "average"
    let weights = options.weights
    let count = Double(tables.count)
    return try combine(tables, rule: rule, weights: weights, timm: options.timmCompatible, tool: options.tool) {
      name, _ throws(GraftError) in
      let inputs = tables.compactMap { $0[name] }
      return { range, out in
        for i in out.indices { out[i] = 0 }
        for (k, t) in inputs.enumerated() {
          let x = try DeployTensors.doubles(t, elements: range, name: name)
          if let weights {
            for i in out.indices { out[i] += weights[k] * x[i] }
          } else {
            for i in out.indices { out[i] += x[i] }
          }
        }
        if weights == nil { for i in out.indices { out[i] /= count } }
      }
    }
  }

  /// Interpolates two checkpoints at `t` (0 gives `a`, 1 gives `b`).
  ///
  /// - Throws: `invalidArgument` naming `t` when it is not finite; the errors of ``checkCompatible(_:)``.
  public static func interpolate(
    _ a: TensorTable, _ b: TensorTable, t: Double, method: Method, tool: String = "graft"
  ) throws(GraftError) -> (table: TensorTable, report: Report) {
    guard t.isFinite else { throw GraftError(.invalidArgument, "t must be finite").resolved(by: "t") }
    try checkCompatible([a, b])
    let fallbacks = FallbackList()
    var (table, report) = try combine(
      [a, b], rule: "interpolate \(method.rawValue) t=\(t)", weights: [1 - t, t], timm: false, tool: tool
    ) { name, _ throws(GraftError) in
      guard let ta = a[name], let tb = b[name] else { throw GraftError(.tensorNotFound, "missing", tensor: name) }
      var (s0, s1) = (1 - t, t)
      if method == .slerp {
        if let c = try slerpCoefficients(ta, tb, t: t, name: name) {
          (s0, s1) = c
        } else {
          fallbacks.names.append(name)
        }
      }
      return { [s0, s1] range, out in
        let x = try DeployTensors.doubles(ta, elements: range, name: name)
        let y = try DeployTensors.doubles(tb, elements: range, name: name)
        for i in out.indices { out[i] = s0 * x[i] + s1 * y[i] }
      }
    }
    report.linearFallbacks = fallbacks.names
    table.lineage[table.lineage.count - 1].parameters = .object(
      JSONObject([("method", .string(method.rawValue)), ("t", .double(t))]))
    return (table, report)
  }

  /// Collects names while a combination's producers are built (reference semantics inside a closure).
  private final class FallbackList: @unchecked Sendable {
    // Invariant: appended to only while ``combine`` builds its table, on one thread.
    var names: [String] = []
  }

  /// The SLERP coefficients `(s0, s1)` of one tensor pair, or `nil` when it falls back to linear.
  public static func slerpCoefficients(
    _ a: Tensor, _ b: Tensor, t: Double, name: String
  ) throws(GraftError) -> (Double, Double)? {
    var dot = 0.0
    var na = 0.0
    var nb = 0.0
    let count = a.elementCount
    var start = 0
    while start < count {
      let end = min(count, start + (1 << 16))
      let x = try DeployTensors.doubles(a, elements: start..<end, name: name)
      let y = try DeployTensors.doubles(b, elements: start..<end, name: name)
      for i in x.indices {
        dot += x[i] * y[i]
        na += x[i] * x[i]
        nb += y[i] * y[i]
      }
      start = end
    }
    let (la, lb) = (na.squareRoot(), nb.squareRoot())
    guard la >= 1e-8, lb >= 1e-8 else { return nil }
    let cosine = dot / (la * lb)
    guard abs(cosine) <= 0.9995 else { return nil }
    let theta = arccos(cosine)
    let s = Elementary.sinCos(theta).sin
    return (Elementary.sinCos((1 - t) * theta).sin / s, Elementary.sinCos(t * theta).sin / s)
  }

  /// `acos(x)` for |x| ≤ 0.9995 by Newton's method on `cos θ = x` (well conditioned there: sin θ ≥ 0.0316).
  public static func arccos(_ x: Double) -> Double {
    var theta = Double.pi / 2 - x - x * x * x / 6
    for _ in 0..<60 {
      let (s, c) = Elementary.sinCos(theta)
      let step = (c - x) / s
      theta += step
      if abs(step) <= 1e-17 * max(1, theta) { break }
    }
    return theta
  }

  /// Builds the combined table: float tensors produced lazily from `producer(name, tensor)`, integers and bools
  /// from the last input (or, in timm's rules, averaged like the rest), every output in its dtype (timm: float32).
  private static func combine(
    _ tables: [TensorTable], rule: String, weights: [Double]?, timm: Bool, tool: String,
    producer: (String, Tensor) throws(GraftError) -> DeployTensors.Producer
  ) throws(GraftError) -> (table: TensorTable, report: Report) {
    guard let first = tables.first, let last = tables.last else {
      throw GraftError(.invalidArgument, "no checkpoint to combine")
    }
    var out = TensorTable()
    var fromLast: [String] = []
    var combined = 0
    let limit = Double(Float.greatestFiniteMagnitude)
    for e in first.entries {
      if let target = e.aliasOf, out.contains(target) {
        try out.appendAlias(e.name, of: target)
        continue
      }
      let numeric = e.tensor.dtype.isFloatingPoint || timm
      guard numeric, e.tensor.dtype.isNumeric, e.tensor.dtype.byteWidth != nil else {
        guard let t = last[e.name] else { continue }
        try out.append(e.name, t)
        fromLast.append(e.name)
        continue
      }
      let produce = try producer(e.name, e.tensor)
      let dtype = timm ? DType.float32 : e.tensor.dtype
      var final = produce
      if timm {
        final = { (range: Range<Int>, values: UnsafeMutableBufferPointer<Double>) throws in
          try produce(range, values)
          for i in values.indices { values[i] = Swift.min(Swift.max(values[i], -limit), limit) }
        }
      }
      try out.append(e.name, try DeployTensors.produced(dtype: dtype, shape: e.tensor.shape, produce: final))
      combined += 1
    }
    var parameters = JSONObject()
    parameters["inputs"] = .integer(tables.count)
    parameters["weights"] = weights.map { .array($0.map(JSONValue.double)) } ?? .null
    parameters["timm"] = .bool(timm)
    out.lineage.append(
      LineageRecord(
        operation: rule.hasPrefix("interpolate") ? interpolateOperation : averageOperation, tool: tool,
        parameters: .object(parameters)))
    let report = Report(
      rule: rule, inputs: tables.count, weights: weights, combined: combined, takenFromLast: fromLast,
      linearFallbacks: [])
    return (out, report)
  }
}
