import Synchronization

/// Options for a dtype cast.
public struct CastOptions: Sendable, Hashable {
  /// Clamp finite values that overflow the target to its largest finite value instead of following PyTorch.
  ///
  /// Off by default, so casts are bit-identical to `Tensor.to(dtype)`: overflow gives ±inf (F16, BF16, F32,
  /// F8_E5M2), NaN (F8_E4M3FNUZ, F8_E5M2FNUZ, F8_E8M0) or ±448 (F8_E4M3, which PyTorch saturates anyway). When on,
  /// infinities stay infinite where the target has them and become ±max where it has none; NaN stays NaN. F4 and
  /// integer targets always saturate. Saturated elements are counted in ``CastReport/overflowCount``.
  public var saturate: Bool = false

  /// Creates options.
  public init(saturate: Bool = false) { self.saturate = saturate }
}

/// What a cast did to the values: special values, overflow, underflow and the largest rounding error.
///
/// Counts are per element. ``nanCount`` counts elements whose source or result is NaN, so a NaN that the target
/// cannot represent (F4, integers, bool) is still reported; the infinity counts work the same way. The error maxima
/// are computed in `Double` against the source value, over elements whose source is finite and that did not
/// overflow (overflow has its own count). Every path computes them the same way, so a report does not depend on how
/// a tensor was split into chunks.
public struct CastReport: Sendable, Hashable {
  /// The number of elements converted.
  public var elementCount: Int = 0
  /// Elements whose source or result is NaN.
  public var nanCount: Int = 0
  /// Elements whose source or result is +inf.
  public var positiveInfinityCount: Int = 0
  /// Elements whose source or result is −inf.
  public var negativeInfinityCount: Int = 0
  /// Finite sources beyond the target's range: the result became ±inf or NaN, or was saturated (or, for integer
  /// targets, the truncated value did not fit).
  public var overflowCount: Int = 0
  /// Nonzero finite sources whose result is zero.
  public var flushedToZeroCount: Int = 0
  /// The largest |result − source|.
  public var maxAbsError: Double = 0
  /// The largest |result − source| / |source| over nonzero sources.
  public var maxRelError: Double = 0

  /// Creates an empty report.
  public init() {}

  /// Adds another report's counts and keeps the larger errors.
  public mutating func merge(_ other: CastReport) {
    elementCount += other.elementCount
    nanCount += other.nanCount
    positiveInfinityCount += other.positiveInfinityCount
    negativeInfinityCount += other.negativeInfinityCount
    overflowCount += other.overflowCount
    flushedToZeroCount += other.flushedToZeroCount
    maxAbsError = Swift.max(maxAbsError, other.maxAbsError)
    maxRelError = Swift.max(maxRelError, other.maxRelError)
  }

  /// Whether every element was represented exactly (no special values, no overflow, no flush, no rounding).
  public var isExact: Bool {
    nanCount == 0 && positiveInfinityCount == 0 && negativeInfinityCount == 0 && overflowCount == 0
      && flushedToZeroCount == 0 && maxAbsError == 0
  }

  /// One readable line, such as `1048576 elements, exact` or `4096 elements: 2 NaN, 1 overflow, max abs err 0.0039`.
  public var summary: String {
    if isExact { return "\(elementCount) elements, exact" }
    var parts: [String] = []
    if nanCount > 0 { parts.append("\(nanCount) NaN") }
    if positiveInfinityCount > 0 { parts.append("\(positiveInfinityCount) +inf") }
    if negativeInfinityCount > 0 { parts.append("\(negativeInfinityCount) -inf") }
    if overflowCount > 0 { parts.append("\(overflowCount) overflowed") }
    if flushedToZeroCount > 0 { parts.append("\(flushedToZeroCount) flushed to zero") }
    parts.append("max abs err \(Format.scientific(maxAbsError, significantDigits: 4, paddedExponent: false))")
    parts.append("max rel err \(Format.scientific(maxRelError, significantDigits: 4, paddedExponent: false))")
    return "\(elementCount) elements: " + parts.joined(separator: ", ")
  }

}

/// Collects the reports of lazily cast tensors, whose chunks may be converted on several threads.
public final class CastReportCollector: Sendable {
  private let state = Mutex(CastReport())

  /// Creates an empty collector.
  public init() {}

  /// Merges a report.
  public func add(_ report: CastReport) { state.withLock { $0.merge(report) } }

  /// Everything merged so far.
  public var report: CastReport { state.withLock { $0 } }
}
