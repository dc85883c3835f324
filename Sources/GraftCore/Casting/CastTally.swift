/// The magnitude beyond which a value, as actually rounded, no longer fits a target type.
@usableFromInline enum OverflowLimit: Sendable {
  /// The target holds every value (F64, bool).
  case none
  /// |x| ≥ bound overflows (round to nearest even would pass the largest finite value).
  case atLeast(Double)
  /// |x| > bound overflows (the tie rounds down to an even largest finite value).
  case above(Double)
  /// The truncated value must lie in `lower..<upper`.
  case integer(lower: Double, upper: Double)

  /// The limit for values converted to `dtype`.
  static func of(_ dtype: DType) -> OverflowLimit {
    switch dtype {
    case .float32: return .atLeast(0x1.FFFFFFp127)
    case .float16: return .atLeast(65520)
    case .bfloat16: return .atLeast(Double(Float(bitPattern: 0x7F7F_8000)))
    case .float8E4M3: return .above(464)
    case .float8E5M2, .float8E5M2FNUZ: return .atLeast(61440)
    case .float8E4M3FNUZ: return .atLeast(248)
    case .float8E8M0: return .atLeast(0x1.8p127)
    case .float4E2M1: return .atLeast(7)
    case .int8: return .integer(lower: -0x1p7, upper: 0x1p7)
    case .uint8: return .integer(lower: 0, upper: 0x1p8)
    case .int16: return .integer(lower: -0x1p15, upper: 0x1p15)
    case .uint16: return .integer(lower: 0, upper: 0x1p16)
    case .int32: return .integer(lower: -0x1p31, upper: 0x1p31)
    case .uint32: return .integer(lower: 0, upper: 0x1p32)
    case .int64: return .integer(lower: -0x1p63, upper: 0x1p63)
    case .uint64: return .integer(lower: 0, upper: 0x1p64)
    default: return .none
    }
  }

  @inline(__always)
  func exceeded(by x: Double) -> Bool {
    switch self {
    case .none: return false
    case .atLeast(let bound): return x.magnitude >= bound
    case .above(let bound): return x.magnitude > bound
    case .integer(let lower, let upper):
      let t = x.rounded(.towardZero)
      return t < lower || t >= upper
    }
  }
}

/// Per-element bookkeeping behind a ``CastReport``, kept in locals so hot loops stay in registers.
@usableFromInline struct CastTally {
  var nan = 0
  var positiveInfinity = 0
  var negativeInfinity = 0
  var overflow = 0
  var flushed = 0
  var maxAbs: Double = 0
  var maxRel: Double = 0
  let limit: OverflowLimit
  let tracksError: Bool
  /// Whether the relative error is divided in `Float`, as the F32 → BF16/F16 kernels' vectorised pass does.
  ///
  /// Eight lanes of `vdivps` instead of four of `vdivpd` keep those kernels memory-bound. Both operands are exact
  /// floats there, so this is the correctly rounded `Float` of the exact ratio, and every element of such a cast
  /// uses the same formula.
  let relativeInFloat: Bool

  init(target: DType, relativeInFloat: Bool = false) {
    limit = .of(target)
    tracksError = target != .bool
    self.relativeInFloat = relativeInFloat
  }

  /// Folds in error maxima measured elsewhere (a kernel's vectorised pass).
  mutating func record(maxAbs a: Double, maxRel r: Double) {
    maxAbs = Swift.max(maxAbs, a)
    maxRel = Swift.max(maxRel, r)
  }

  /// Records one element: `source` is the exact source value, `rounded` the value actually narrowed (the float32
  /// intermediate when torch goes through float32), `result` the value stored.
  @inline(__always)
  mutating func add(source s: Double, rounded m: Double, result r: Double) {
    if s.isNaN || r.isNaN {
      nan += 1
    } else if s == .infinity || r == .infinity {
      positiveInfinity += 1
    } else if s == -.infinity || r == -.infinity {
      negativeInfinity += 1
    }
    guard s.isFinite else { return }
    if limit.exceeded(by: m) || !r.isFinite {
      overflow += 1
      return
    }
    if r == 0 && s != 0 { flushed += 1 }
    guard tracksError else { return }
    let error = (r - s).magnitude
    if error > maxAbs { maxAbs = error }
    if s != 0 {
      let relative = relativeInFloat ? Double(Float(error) / Float(s.magnitude)) : error / s.magnitude
      if relative > maxRel { maxRel = relative }
    }
  }

  /// Adds the tallied counts to `report` (the caller adds the element count).
  func flush(into report: inout CastReport) {
    report.nanCount += nan
    report.positiveInfinityCount += positiveInfinity
    report.negativeInfinityCount += negativeInfinity
    report.overflowCount += overflow
    report.flushedToZeroCount += flushed
    report.maxAbsError = Swift.max(report.maxAbsError, maxAbs)
    report.maxRelError = Swift.max(report.maxRelError, maxRel)
  }
}
