import GraftCore

/// Element decoding and encoding for the DenoiseRep passes.
///
/// F16, BF16 and F32 widen to `Float` exactly, so the float32 path loses nothing on input; outputs round once, to
/// nearest even, from the float64 result straight to the stored dtype.
enum DenoiseRepValues {
  /// The dtypes the passes read and write.
  static let supported: [DType] = [.float32, .float64, .float16, .bfloat16]

  /// Throws unless the tensor's dtype is one the fusion computes with.
  static func checkDType(_ tensor: Tensor, name: String) throws(GraftError) {
    guard supported.contains(tensor.dtype) else {
      throw GraftError(
        .unsupportedDType, "has dtype \(tensor.dtype); DenoiseRep fusion reads F32, F64, F16 and BF16 tensors",
        tensor: name)
    }
  }

  /// The tensor's values widened to `Float` (F64 rounds; callers use ``doubles(_:name:)`` for F64 weights).
  static func floats(_ tensor: Tensor, name: String) throws(GraftError) -> [Float] {
    try values(tensor, name: name, as: .float32)
  }

  /// Calls `body` with the tensor's values as `Float`, the same either way.
  ///
  /// Float32 bytes are passed in place (a mapped file) when they are aligned; anything else is widened into a
  /// temporary array as ``floats(_:name:)``.
  static func withFloats<R>(
    _ tensor: Tensor, name: String, _ body: (UnsafeBufferPointer<Float>) throws(GraftError) -> R
  ) throws(GraftError) -> R {
    if tensor.dtype == .float32, let raw = tensor.bytes.contiguousBytes, let base = raw.baseAddress,
      Int(bitPattern: base) % MemoryLayout<Float>.alignment == 0, raw.count == tensor.elementCount * 4
    {
      return try body(UnsafeBufferPointer(start: base.assumingMemoryBound(to: Float.self), count: tensor.elementCount))
    }
    let values = try floats(tensor, name: name)
    return try values.withUnsafeBufferPointer { v throws(GraftError) in try body(v) }
  }

  /// The tensor's values widened to `Double` (exact for every supported dtype).
  static func doubles(_ tensor: Tensor, name: String) throws(GraftError) -> [Double] {
    try values(tensor, name: name, as: .float64)
  }

  /// The tensor's values as `T` (`target` is its dtype), through GraftCore's cast kernels.
  private static func values<T: BinaryFloatingPoint>(
    _ tensor: Tensor, name: String, as target: DType
  ) throws(GraftError) -> [T] {
    try checkDType(tensor, name: name)
    let count = tensor.elementCount
    var result: Result<Void, GraftError> = .success(())
    let values = try read(tensor, name: name) { raw in
      [T](unsafeUninitializedCapacity: count) { out, initialized in
        var report = CastReport()
        result = Result { () throws(GraftError) in
          try Cast.convert(
            raw, from: tensor.dtype, into: UnsafeMutableRawBufferPointer(out), to: target, count: count,
            options: CastOptions(), report: &report)
        }
        initialized = count
      }
    }
    do { try result.get() } catch { throw error.forTensor(name) }
    return values
  }

  private static func read<R>(
    _ tensor: Tensor, name: String, _ body: (UnsafeRawBufferPointer) -> R
  ) throws(GraftError)
    -> R
  {
    do {
      return try tensor.withUnsafeBytes(body)
    } catch {
      throw GraftError.reading(error, tensor: name)
    }
  }

  /// Encodes values into a new tensor of `dtype`, rounding each once to nearest even.
  static func tensor(_ values: [Double], dtype: DType, shape: [Int]) -> Tensor {
    let width = dtype.byteWidth ?? 4
    let bytes = HeapBytes(count: values.count * width) { out in
      for (i, v) in values.enumerated() {
        switch dtype {
        case .float64: out.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: i * 8, as: UInt64.self)
        case .float16: out.storeBytes(of: Float16(v).bitPattern.littleEndian, toByteOffset: i * 2, as: UInt16.self)
        case .bfloat16:
          out.storeBytes(of: BFloat16(roundToOdd(v)).bitPattern.littleEndian, toByteOffset: i * 2, as: UInt16.self)
        default: out.storeBytes(of: Float(v).bitPattern.littleEndian, toByteOffset: i * 4, as: UInt32.self)
        }
      }
    }
    return Tensor(dtype: dtype, shape: shape, bytes: bytes)
  }

  /// Narrows to `Float` rounding toward zero and setting the last bit when inexact ("round to odd").
  ///
  /// Rounding that result again to bfloat16 (8 significant bits, far fewer than Float's 24) then equals one direct
  /// rounding of the double, which a plain double → float → bfloat16 chain does not guarantee.
  static func roundToOdd(_ v: Double) -> Float {
    var f = Float(v)
    guard f.isFinite, Double(f) != v else { return f }
    if abs(Double(f)) > abs(v) { f = f > 0 ? f.nextDown : f.nextUp }
    return Float(bitPattern: f.bitPattern | 1)
  }
}

extension SplitMix64 {
  /// The generator of the `compat` mode's z for one layer: the seed mixed with the layer's name, so each layer
  /// draws its own z and reordering the table does not change any layer's draw.
  init(seed: UInt64, layer: String) {
    var h = XXHash64(seed: seed)
    h.update(Array(layer.utf8))
    self.init(seed: h.finalize())
  }
}
