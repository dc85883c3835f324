public import GraftCore

/// Reading tensors as Float64 and producing new tensors lazily from Float64 values: the plumbing the deployment
/// passes (LoRA merge, re-parameterisation, EMA, averaging) share.
///
/// A produced tensor computes only the elements a reader asks for, so a writer streaming a merged or averaged
/// checkpoint holds one chunk of Float64 values at a time, however many inputs feed it.
public enum DeployTensors {
  /// The dtypes produced tensors are written in (byte-aligned floats; the values round once, as torch's `.to()`).
  public static let floatTypes: [DType] = [.float32, .float64, .float16, .bfloat16]

  /// All of a tensor's values widened to Float64 (exact for every float type and integers up to 2⁵³).
  ///
  /// - Throws: `unsupportedDType` for F6 and complex tensors; `io` when the bytes cannot be read.
  public static func doubles(_ tensor: Tensor, name: String) throws(GraftError) -> [Double] {
    try doubles(tensor, elements: 0..<tensor.elementCount, name: name)
  }

  /// The values of the tensor named `name` in `table`, widened to Float64.
  ///
  /// - Throws: `invalidModel` naming a missing tensor; the errors of ``doubles(_:name:)``.
  public static func doubles(_ table: TensorTable, _ name: String) throws(GraftError) -> [Double] {
    guard let t = table[name] else { throw GraftError(.invalidModel, "missing tensor", tensor: name) }
    return try doubles(t, name: name)
  }

  /// The values of the elements in `range`, widened to Float64.
  ///
  /// - Throws: `unsupportedDType` for sub-byte, F6 and complex tensors; `io` when the bytes cannot be read.
  public static func doubles(_ tensor: Tensor, elements range: Range<Int>, name: String) throws(GraftError) -> [Double]
  {
    let dtype = tensor.dtype
    guard dtype.isNumeric, let width = dtype.byteWidth else {
      throw GraftError(
        .unsupportedDType, "has dtype \(dtype); expected a byte-aligned real numeric dtype", tensor: name)
    }
    guard range.lowerBound >= 0, range.upperBound <= tensor.elementCount else {
      throw GraftError(
        .invalidArgument, "elements \(range) are outside the tensor's \(tensor.elementCount)", tensor: name)
    }
    var out = [Double](repeating: 0, count: range.count)
    if range.isEmpty { return out }
    let bytes = (range.lowerBound * width)..<(range.upperBound * width)
    do {
      if let direct = tensor.bytes.contiguousBytes {
        try out.withUnsafeMutableBufferPointer { o throws(GraftError) in
          try ElementDecoding.decodeToDouble(UnsafeRawBufferPointer(rebasing: direct[bytes]), dtype: dtype, into: o)
        }
      } else {
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 64)
        defer { scratch.deallocate() }
        try tensor.bytes.copyBytes(in: bytes, into: scratch)
        try out.withUnsafeMutableBufferPointer { o throws(GraftError) in
          try ElementDecoding.decodeToDouble(UnsafeRawBufferPointer(scratch), dtype: dtype, into: o)
        }
      }
    } catch {
      throw GraftError.reading(error, tensor: name)
    }
    return out
  }

  /// Fills a buffer with the Float64 values of a range of elements.
  public typealias Producer = @Sendable (Range<Int>, UnsafeMutableBufferPointer<Double>) throws -> Void

  /// A tensor of `dtype` whose elements `produce` computes in Float64 when its bytes are read, each rounded once
  /// to `dtype` with GraftCore's casts (torch's rules).
  ///
  /// Any byte range may be read: the elements covering it are computed and only the requested bytes copied.
  ///
  /// - Throws: `unsupportedDType` when `dtype` is not byte-aligned and numeric.
  public static func produced(
    dtype: DType, shape: [Int], produce: @escaping Producer
  ) throws(GraftError) -> Tensor {
    guard dtype.isNumeric, let width = dtype.byteWidth, let count = Checked.product(shape),
      let byteCount = Checked.multiply(count, width)
    else {
      throw GraftError(.unsupportedDType, "cannot produce a \(dtype) tensor of shape \(shape)")
    }
    let bytes = ProducedBytes(byteCount: byteCount) { range, buffer in
      let first = range.lowerBound / width
      let end = (range.upperBound + width - 1) / width
      var values = [Double](repeating: 0, count: end - first)
      try values.withUnsafeMutableBufferPointer { try produce(first..<end, $0) }
      let offset = range.lowerBound - first * width
      if offset == 0 && range.count == values.count * width {
        try encode(values, dtype: dtype, into: buffer)
        return
      }
      let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: values.count * width, alignment: 64)
      defer { scratch.deallocate() }
      try encode(values, dtype: dtype, into: scratch)
      buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: scratch[offset..<(offset + range.count)]))
    }
    return Tensor(dtype: dtype, shape: shape, bytes: bytes)
  }

  /// A tensor holding `values` (already computed) rounded once to `dtype`.
  ///
  /// - Throws: `unsupportedDType` when `dtype` is not byte-aligned and numeric.
  public static func stored(_ values: [Double], dtype: DType, shape: [Int]) throws(GraftError) -> Tensor {
    guard let width = dtype.byteWidth, dtype.isNumeric, Checked.product(shape) == values.count else {
      throw GraftError(.unsupportedDType, "cannot store \(values.count) values as \(dtype) of shape \(shape)")
    }
    var failure: GraftError?
    let bytes = HeapBytes(count: values.count * width) { out in
      do throws(GraftError) { try encode(values, dtype: dtype, into: out) } catch { failure = error }
    }
    if let failure { throw failure }
    return Tensor(dtype: dtype, shape: shape, bytes: bytes)
  }

  /// A copy of `table` without the names in `dropping`, with `inserting[name]` placed where `name` was.
  ///
  /// Insertions apply whether or not `name` itself is dropped. Aliases of a dropped tensor keep their bytes as
  /// tensors of their own.
  ///
  /// - Throws: `duplicateKey` when an inserted name collides with a kept one.
  public static func rebuilt(
    _ table: TensorTable, dropping: Set<String>, inserting: [String: [(String, Tensor)]]
  ) throws(GraftError) -> TensorTable {
    var out = TensorTable()
    out.metadata = table.metadata
    out.lineage = table.lineage
    out.source = table.source
    for e in table.entries {
      for (name, tensor) in inserting[e.name] ?? [] { try out.append(name, tensor) }
      if dropping.contains(e.name) { continue }
      if let target = e.aliasOf, out.contains(target), !dropping.contains(target) {
        try out.appendAlias(e.name, of: target)
      } else {
        try out.append(e.name, e.tensor)
      }
    }
    return out
  }

  private static func encode(
    _ values: [Double], dtype: DType, into out: UnsafeMutableRawBufferPointer
  ) throws(GraftError) {
    var ignored = CastReport()
    do {
      try values.withUnsafeBytes { raw in
        try Cast.convert(
          raw, from: .float64, into: out, to: dtype, count: values.count, options: CastOptions(), report: &ignored)
      }
    } catch let error as GraftError {
      throw error
    } catch {
      throw GraftError(.io, "could not encode \(values.count) values as \(dtype)", cause: error)
    }
  }
}
