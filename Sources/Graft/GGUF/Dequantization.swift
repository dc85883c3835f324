/// Explicit dequantization for outputs that cannot store quantized blocks (safetensors, `.graft`, PyTorch, NumPy,
/// HDF5): nothing is dequantized unless a dtype is asked for, and the report says what was dequantized, per type.
public enum Dequantization {
  /// How many tensors of a table are stored as each block type (`Q8_0`: 14), sorted by type.
  public static func census(_ table: TensorTable) -> [(type: String, count: Int)] {
    var counts: [String: Int] = [:]
    for e in table.storedEntries where e.tensor.isQuantized { counts[e.tensor.storageTypeName, default: 0] += 1 }
    return counts.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
  }

  /// The refusal for quantized tensors and no dtype: an input-side error naming the `dtype` option.
  public static func refusal(_ census: [(type: String, count: Int)], writer: String, file: String) -> GraftError {
    GraftError(
      .unsupportedDType,
      "the input stores " + describe(census) + " as quantized blocks, which \(writer) cannot store; choose the dtype "
        + "to dequantize them to (F32, F16 or BF16)", file: file
    ).on(.input).resolved(by: "dtype")
  }

  /// "14 Q8_0 tensors, 2 Q6_K tensors".
  static func describe(_ census: [(type: String, count: Int)]) -> String {
    census.map { "\($0.count) \($0.type) tensor\($0.count == 1 ? "" : "s")" }.joined(separator: ", ")
  }

  /// Replaces every quantized tensor by its values, lazily.
  ///
  /// As `dtype` when it is F32, F16 or BF16, else as F32 for the caller to cast. Returns the note for the report ("dequantized 14 Q8_0 tensors to F16"), or `nil` when
  /// nothing was quantized.
  public static func apply(
    _ table: inout TensorTable, to dtype: DType, census: [(type: String, count: Int)]
  ) throws(GraftError) -> String? {
    let direct = dtype == .float32 || dtype == .float16 || dtype == .bfloat16
    for e in table.storedEntries where e.tensor.isQuantized {
      try table.replace(e.name, with: try e.tensor.dequantized(to: direct ? dtype : .float32))
    }
    return census.isEmpty ? nil : "dequantized \(describe(census)) to \(direct ? dtype : .float32)"
  }

  /// Casts every floating-point tensor that is not `dtype` yet, lazily (round to nearest even).
  static func cast(_ table: inout TensorTable, to dtype: DType) throws(GraftError) {
    for e in table.storedEntries where e.tensor.dtype.isFloatingPoint && e.tensor.dtype != dtype {
      guard Cast.isSupported(from: e.tensor.dtype, to: dtype) else {
        throw GraftError(.unsupportedDType, "cannot cast \(e.tensor.dtype) to \(dtype)", tensor: e.name)
      }
      try table.replace(
        e.name, with: try Cast.lazily(e.tensor, to: dtype, options: CastOptions(), collector: CastReportCollector()))
    }
  }

  /// config.json's `dtype` for weights stored as `dtype`: its PyTorch name when a half type, else `float32`.
  static func torchName(_ dtype: DType) -> String {
    dtype == .float16 || dtype == .bfloat16 ? dtype.torchName ?? "float32" : "float32"
  }
}
