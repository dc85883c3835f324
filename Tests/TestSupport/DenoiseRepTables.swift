public import GraftCore

/// Builds small DenoiseRep tables in memory: a wrapped Linear with the public schedule buffers.
public enum DenoiseRepTables {
  /// The public schedule: linspace(1e-4, 2e-3, steps) in float32 and its derived buffers.
  public static func schedule(steps: Int = 1000) -> [String: [Float]] {
    let betas = (0..<steps).map { Float(1e-4 + (2e-3 - 1e-4) * Double($0) / Double(steps - 1)) }
    let alphas = betas.map { 1 - $0 }
    var cum: [Float] = []
    var acc: Float = 1
    for a in alphas {
      acc *= a
      cum.append(acc)
    }
    let prev = [Float(1)] + cum.dropLast()
    return [
      "betas": betas, "sqrt_betas": betas.map { $0.squareRoot() }, "alphas": alphas,
      "sqrt_alphas": alphas.map { $0.squareRoot() }, "alphas_cumprod": cum, "alphas_cumprod_prev": prev,
      "sqrt_alphas_cumprod": cum.map { $0.squareRoot() },
      "sqrt_one_minus_alphas_cumprod": cum.map { (1 - $0).squareRoot() },
      "log_one_minus_alphas_cumprod": cum.map { _ in 0 },
      "sqrt_recip_alphas_cumprod": cum.map { (1 / $0).squareRoot() },
      "sqrt_recipm1_alphas_cumprod": cum.map { (1 / $0 - 1).squareRoot() },
      "posterior_variance": betas.map { _ in 0 },
    ]
  }

  /// A table holding one wrapped Linear `prefix` (`[out, in]`), values from `seed`, in `dtype`.
  public static func layer(
    _ prefix: String = "blocks.0.mlp.fc1", out: Int = 6, inp: Int = 5, bias: Bool = true, dtype: DType = .float32,
    seed: UInt64 = 1, timeWidth: Int = 16, skipBuffer: String? = nil
  ) throws -> TensorTable {
    var rng = SplitMix64(seed: seed)
    var t = TensorTable()
    func add(_ name: String, _ values: [Float], _ shape: [Int]) throws {
      let doubles = values.map(Double.init)
      try t.append(name, encode(doubles, dtype: dtype, shape: shape))
    }
    try add(prefix + ".weight", rng.floats(out * inp, scale: 0.5), [out, inp])
    if bias { try add(prefix + ".bias", rng.floats(out, scale: 0.1), [out]) }
    for (name, values) in schedule().sorted(by: { $0.key < $1.key }) where name != skipBuffer {
      try t.append(prefix + "." + name, Tensor(float32: values, shape: [values.count]))
    }
    try add(prefix + ".time_mlp.1.weight", rng.floats(inp * timeWidth, scale: 0.3), [inp, timeWidth])
    try add(prefix + ".time_mlp.1.bias", rng.floats(inp, scale: 0.1), [inp])
    try add(prefix + ".time_mlp.3.weight", rng.floats(inp * inp, scale: 0.4), [inp, inp])
    try add(prefix + ".time_mlp.3.bias", rng.floats(inp, scale: 0.1), [inp])
    try add(prefix + ".dm.weight", rng.floats(inp * inp, scale: 0.45), [inp, inp])
    try add(prefix + ".dm.bias", rng.floats(inp, scale: 0.45), [inp])
    return t
  }

  /// Encodes doubles as a tensor of `dtype` (F64, BF16, F16, else F32).
  public static func encode(_ values: [Double], dtype: DType, shape: [Int]) -> Tensor {
    var bytes: [UInt8] = []
    for v in values {
      switch dtype {
      case .float64: withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes += $0 }
      case .bfloat16: withUnsafeBytes(of: BFloat16(Float(v)).bitPattern.littleEndian) { bytes += $0 }
      case .float16: withUnsafeBytes(of: Float16(v).bitPattern.littleEndian) { bytes += $0 }
      default: withUnsafeBytes(of: Float(v).bitPattern.littleEndian) { bytes += $0 }
      }
    }
    return Tensor(dtype: dtype, shape: shape, copying: bytes)
  }

  /// Decodes a F64, BF16 or F32 tensor to doubles.
  public static func doubles(_ tensor: Tensor) throws -> [Double] {
    try tensor.withUnsafeBytes { raw in
      let n = tensor.elementCount
      return (0..<n).map { i -> Double in
        switch tensor.dtype {
        case .float64:
          return Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)))
        case .bfloat16:
          return Double(Float(BFloat16(bitPattern: raw.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))))
        default:
          return Double(Float(bitPattern: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)))
        }
      }
    }
  }
}
