/// Element decoders and encoders for code that computes in `Float` or `Double` (the engine, diffs, statistics).
///
/// They follow the same rules as ``Cast`` (torch's bits, NaN payloads included), so decoding, computing and
/// re-encoding an unchanged tensor gives its bytes back.
public enum ElementDecoding {
  /// Decodes `dst.count` elements of `dtype` from raw little-endian bytes into `Float`.
  ///
  /// F64 and 64-bit integers round to nearest even; every other type is exact.
  ///
  /// - Throws: `unsupportedDType` for F6 and complex types; `invalidArgument` when `src` is too short.
  public static func decodeToFloat(
    _ src: UnsafeRawBufferPointer, dtype: DType, into dst: UnsafeMutableBufferPointer<Float>
  ) throws(GraftError) {
    try check(src, dtype: dtype, count: dst.count)
    guard let s = src.baseAddress, let d = dst.baseAddress, dst.count > 0 else { return }
    var ignored = CastReport()
    let raw = UnsafeMutableRawPointer(d)
    switch dtype {
    case .float32: raw.copyMemory(from: s, byteCount: 4 * dst.count)
    case .bfloat16: Cast.Kernels.bfloat16ToFloat32(s, raw, count: dst.count, report: &ignored)
    case .float16: Cast.Kernels.float16ToFloat32(s, raw, count: dst.count, report: &ignored)
    case .float64: Cast.Kernels.float64ToFloat32(s, raw, count: dst.count, saturate: false, report: &ignored)
    default: ElementCodec.decodeFloat(s, dtype, count: dst.count, into: d)
    }
  }

  /// Decodes `dst.count` elements of `dtype` from raw little-endian bytes into `Double`.
  ///
  /// Exact for every type except 64-bit integers above 2⁵³, which round to nearest even.
  ///
  /// - Throws: `unsupportedDType` for F6 and complex types; `invalidArgument` when `src` is too short.
  public static func decodeToDouble(
    _ src: UnsafeRawBufferPointer, dtype: DType, into dst: UnsafeMutableBufferPointer<Double>
  ) throws(GraftError) {
    try check(src, dtype: dtype, count: dst.count)
    guard let s = src.baseAddress, let d = dst.baseAddress, dst.count > 0 else { return }
    if dtype == .float32 {
      var ignored = CastReport()
      Cast.Kernels.float32ToFloat64(s, UnsafeMutableRawPointer(d), count: dst.count, report: &ignored)
    } else {
      ElementCodec.decodeDouble(s, dtype, count: dst.count, into: d)
    }
  }

  /// Encodes floats into `to`, exactly as ``Cast/convert(_:from:into:to:count:options:report:)`` from F32 does.
  ///
  /// - Throws: `unsupportedDType` for F6 and complex types; `invalidArgument` when `dst` is too short.
  public static func encodeFromFloat(
    _ src: UnsafeBufferPointer<Float>, to: DType, into dst: UnsafeMutableRawBufferPointer, options: CastOptions,
    report: inout CastReport
  ) throws(GraftError) {
    try Cast.convert(
      UnsafeRawBufferPointer(src), from: .float32, into: dst, to: to, count: src.count, options: options,
      report: &report)
  }

  private static func check(_ src: UnsafeRawBufferPointer, dtype: DType, count: Int) throws(GraftError) {
    guard dtype.isNumeric else {
      throw GraftError(.unsupportedDType, "cannot decode \(dtype) elements: expected a real numeric dtype")
    }
    guard let needed = Cast.storageBytes(dtype, count: count), src.count >= needed else {
      throw GraftError(
        .invalidArgument, "\(count) elements of \(dtype) need more than the \(src.count) bytes given",
        byteOffset: src.count)
    }
  }
}

extension Tensor {
  /// Every element as Float (exact for F32, F16, BF16 and the 8-bit floats; F64 rounds), for small tensors and
  /// checks; read failures name `name`.
  public func floatValues(name: String) throws(GraftError) -> [Float] {
    var out = [Float](repeating: 0, count: elementCount)
    do {
      try withUnsafeBytes { raw in
        try out.withUnsafeMutableBufferPointer { dst throws(GraftError) in
          try ElementDecoding.decodeToFloat(raw, dtype: dtype, into: dst)
        }
      }
    } catch {
      throw GraftError.reading(error, tensor: name)
    }
    return out
  }
}
