/// Dtype conversions that are bit-identical to PyTorch's `Tensor.to(dtype)` on CPU, with a report of what was lost.
///
/// The rules, all checked against golden vectors produced by torch 2.15 (`scripts/fixtures/casts.py`):
/// - Round to nearest even everywhere. Narrow targets (F16, BF16, fp8, F4) are reached through a `Float`
///   intermediate, as torch does, so F64 → F16/BF16/fp8 rounds twice (F64 → F32 → target) and integers above 2²⁴ round
///   to F32 first.
/// - NaN bits follow torch's vectorised (AVX2/AVX-512) bulk path: F32/F64 → BF16 gives `0xFFFF` for every NaN; other
///   sources → BF16 give `0x7FC0`; → F16 keeps the sign and top payload bits and sets the quiet bit; F16 → F32/F64
///   quiets; BF16 → F32 shifts the bits unchanged; FNUZ and E8M0 NaN decode to `0x7F800001`. Torch's scalar path (a
///   strided tensor, the tail of a contiguous one, or a CPU without AVX2) differs for F32/F64 → BF16 (`0x7FC0`).
/// - Overflow follows torch unless ``CastOptions/saturate`` is set: ±inf for F16/BF16/F32/F8_E5M2, NaN for the FNUZ
///   types and F8_E8M0, ±448 for F8_E4M3 (torch 2.15 saturates e4m3fn itself).
/// - F4 (no torch `.to()`): round to nearest even, saturating to ±6 (OCP MX); NaN becomes a zero of its sign.
/// - Float → integer truncates toward zero; values outside the target's range (where torch's result depends on the
///   code path) saturate to the type's limits (counted as overflow) and NaN becomes 0 (counted as NaN). Integer → integer wraps
///   (C conversion, like torch), counting values that did not fit. Anything → bool is `x != 0` (NaN is true).
public enum Cast {
  /// Whether ``convert(_:from:into:to:count:options:report:)`` handles the pair.
  ///
  /// Any pair of real numeric types (floats, fp8, F4, integers, bool) is supported, and any type to itself (a copy).
  /// F6 and complex types convert only to themselves.
  public static func isSupported(from: DType, to: DType) -> Bool {
    from == to || (from.isNumeric && to.isNumeric)
  }

  /// The bytes `count` elements of `dtype` occupy, rounding sub-byte types up to whole bytes.
  static func storageBytes(_ dtype: DType, count: Int) -> Int? {
    Checked.multiply(count, dtype.bitWidth).flatMap { Checked.add($0, 7) }.map { $0 / 8 }
  }

  /// Converts raw little-endian elements; src holds `count` elements of `from`, dst has room for `count` of `to`.
  ///
  /// An odd number of F4 elements occupies `(count + 1) / 2` bytes; the unused high nibble of an F4 result is zero.
  /// Adds the elements' statistics to `report`.
  ///
  /// - Throws: `unsupportedDType` when ``isSupported(from:to:)`` is false; `invalidArgument` when a buffer is too small.
  public static func convert(
    _ src: UnsafeRawBufferPointer, from: DType, into dst: UnsafeMutableRawBufferPointer, to: DType, count: Int,
    options: CastOptions, report: inout CastReport
  ) throws(GraftError) {
    guard isSupported(from: from, to: to) else {
      throw GraftError(.unsupportedDType, "cannot cast \(from) to \(to): expected real numeric types (or equal types)")
    }
    guard count >= 0, let srcBytes = storageBytes(from, count: count), let dstBytes = storageBytes(to, count: count)
    else {
      throw GraftError(.invalidArgument, "cannot cast \(count) elements: the element count is negative or too large")
    }
    guard src.count >= srcBytes else {
      throw GraftError(
        .invalidArgument, "cast source holds \(src.count) bytes but \(count) elements of \(from) need \(srcBytes)",
        byteOffset: src.count)
    }
    guard dst.count >= dstBytes else {
      throw GraftError(
        .invalidArgument, "cast destination holds \(dst.count) bytes but \(count) elements of \(to) need \(dstBytes)",
        byteOffset: dst.count)
    }
    guard count > 0, let s = src.baseAddress, let d = dst.baseAddress else { return }
    report.elementCount += count
    if from == to {
      d.copyMemory(from: s, byteCount: srcBytes)
      if from.isNumeric && !from.isInteger && from != .bool { countSpecials(s, from, count: count, report: &report) }
      return
    }
    let saturate = options.saturate
    switch (from, to) {
    case (.float32, .bfloat16): Kernels.float32ToBFloat16(s, d, count: count, saturate: saturate, report: &report)
    case (.float32, .float16): Kernels.float32ToFloat16(s, d, count: count, saturate: saturate, report: &report)
    case (.bfloat16, .float32): Kernels.bfloat16ToFloat32(s, d, count: count, report: &report)
    case (.float16, .float32): Kernels.float16ToFloat32(s, d, count: count, report: &report)
    case (.float64, .float32): Kernels.float64ToFloat32(s, d, count: count, saturate: saturate, report: &report)
    case (.float32, .float64): Kernels.float32ToFloat64(s, d, count: count, report: &report)
    default: convertGeneric(s, from: from, into: d, to: to, count: count, saturate: saturate, report: &report)
    }
  }

  /// Elements per round of the generic path (even, so F4 chunks start on a byte).
  static let genericChunk = 256

  /// Calls `body(start, n)` for consecutive rounds of at most ``genericChunk`` of `count` elements.
  @inline(__always)
  static func forEachChunk(count: Int, _ body: (_ start: Int, _ n: Int) -> Void) {
    var done = 0
    while done < count {
      let n = Swift.min(genericChunk, count - done)
      body(done, n)
      done += n
    }
  }

  private enum Domain {
    /// Narrow float targets, through torch's `Float` intermediate.
    case float
    /// F64 targets.
    case double
    /// Float sources to integer or bool targets.
    case truncating
    /// Integer or bool sources to integer or bool targets.
    case wrapping
  }

  /// The exact, element-by-element path for every pair without a SIMD kernel.
  static func convertGeneric(
    _ src: UnsafeRawPointer, from: DType, into dst: UnsafeMutableRawPointer, to: DType, count: Int, saturate: Bool,
    report: inout CastReport
  ) {
    let domain: Domain
    if to == .float64 {
      domain = .double
    } else if to.isInteger || to == .bool {
      domain = from.isInteger || from == .bool ? .wrapping : .truncating
    } else {
      domain = .float
    }
    if domain == .wrapping {
      convertIntegers(src, from: from, into: dst, to: to, count: count, report: &report)
      return
    }
    // torch's vectorised F32/F64 → BF16 blends NaN lanes with 0xFFFF; every other source reaches BF16 through c10's
    // scalar round_to_nearest_even, which returns 0x7FC0.
    let bfloat16NaN: UInt16 = from == .float32 || from == .float64 ? 0xFFFF : 0x7FC0
    var tally = CastTally(target: to)
    let chunk = genericChunk
    withUnsafeTemporaryAllocation(of: Double.self, capacity: 3 * chunk) { doubles in
      withUnsafeTemporaryAllocation(of: Float.self, capacity: chunk) { floats in
        guard let source = doubles.baseAddress, let narrow = floats.baseAddress else { return }
        let rounded = source + chunk
        let result = source + 2 * chunk
        forEachChunk(count: count) { done, n in
          let s = src + done * from.bitWidth / 8
          let d = dst + done * to.bitWidth / 8
          ElementCodec.decodeDouble(s, from, count: n, into: source)
          switch domain {
          case .float:
            ElementCodec.decodeFloat(s, from, count: n, into: narrow)
            ElementCodec.encodeFloat(narrow, count: n, to: to, saturate: saturate, bfloat16NaN: bfloat16NaN, into: d)
            for i in 0..<n { rounded[i] = Double(narrow[i]) }
          case .double:
            for i in 0..<n { d.storeBytes(of: source[i].bitPattern, toByteOffset: 8 * i, as: UInt64.self) }
            rounded.update(from: source, count: n)
          case .truncating, .wrapping:
            ElementCodec.encodeTruncating(source, count: n, to: to, into: d)
            rounded.update(from: source, count: n)
          }
          ElementCodec.decodeDouble(d, to, count: n, into: result)
          for i in 0..<n { tally.add(source: source[i], rounded: rounded[i], result: result[i]) }
        }
      }
    }
    tally.flush(into: &report)
  }

  /// Integer and bool to integer and bool: C's wrapping conversion, counting the values that did not fit.
  private static func convertIntegers(
    _ src: UnsafeRawPointer, from: DType, into dst: UnsafeMutableRawPointer, to: DType, count: Int,
    report: inout CastReport
  ) {
    let sourceSigned = from == .int8 || from == .int16 || from == .int32 || from == .int64
    let targetSigned = to == .int8 || to == .int16 || to == .int32 || to == .int64
    let width = to.byteWidth ?? 1
    var overflow = 0
    withUnsafeTemporaryAllocation(of: UInt64.self, capacity: genericChunk) { buffer in
      guard let bits = buffer.baseAddress else { return }
      forEachChunk(count: count) { done, n in
        ElementCodec.decodeIntegerBits(src + done * from.bitWidth / 8, from, count: n, into: bits)
        let d = dst + done * width
        for i in 0..<n {
          let b = bits[i]
          if to == .bool {
            d.storeBytes(of: b != 0 ? 1 : 0, toByteOffset: i, as: UInt8.self)
            continue
          }
          let negative = sourceSigned && Int64(bitPattern: b) < 0
          let fits: Bool
          if targetSigned {
            let limit = Int64.max >> (64 - 8 * width)
            fits = negative ? Int64(bitPattern: b) >= ~limit : b <= UInt64(limit)
          } else {
            fits = !negative && b <= UInt64.max >> (64 - 8 * width)
          }
          if !fits { overflow += 1 }
          ElementCodec.storeInteger(b, width: width, into: d, at: i)
        }
      }
    }
    report.overflowCount += overflow
  }

  /// Counts NaN and infinities of a float buffer copied unchanged.
  static func countSpecials(_ src: UnsafeRawPointer, _ dtype: DType, count: Int, report: inout CastReport) {
    var tally = CastTally(target: .float64)
    withUnsafeTemporaryAllocation(of: Double.self, capacity: genericChunk) { buffer in
      guard let values = buffer.baseAddress else { return }
      forEachChunk(count: count) { done, n in
        ElementCodec.decodeDouble(src + done * dtype.bitWidth / 8, dtype, count: n, into: values)
        for i in 0..<n where !values[i].isFinite {
          tally.add(source: values[i], rounded: values[i], result: values[i])
        }
      }
    }
    tally.flush(into: &report)
  }
}
