public import GraftCore

/// When the Linear layers of a model pack their weights into the GEMM's panel layout.
public enum WeightPacking: Sendable {
  /// Once, when the layer is built: the fastest for a model run many times (the default).
  case atBuild
  /// On every call, into the GEMM's scratch; the layer keeps its row-major Float32 weight, borrowing a Float32
  /// tensor's bytes in place (a mapped file, say) when they are aligned.
  ///
  /// For checks that run each layer once or twice: packing at build would write a fresh copy of every weight of
  /// every model being compared, only to read it once. The products are bit-identical to ``atBuild``'s (same depth
  /// blocks, same panels, same micro-kernel).
  case perCall
}

/// Float32 values owned as an array or borrowed from a tensor's bytes.
struct WeightValues: @unchecked Sendable {
  // Invariant: `borrowed` points into the bytes of `source`, which this value keeps alive; nothing writes them.
  private let owned: [Float]
  private let source: (any TensorByteSource)?
  private let borrowed: UnsafePointer<Float>?
  /// The number of values.
  let count: Int

  /// Owns `values`.
  init(_ values: [Float]) {
    // An empty weight (zero features) is never read; one placeholder value still gives the GEMM a valid address.
    owned = values.isEmpty ? [0] : values
    source = nil
    borrowed = nil
    count = values.count
  }

  /// Borrows `count` values at `base`, inside the bytes of `source`.
  init(borrowing source: any TensorByteSource, base: UnsafePointer<Float>, count: Int) {
    owned = []
    self.source = source
    borrowed = base
    self.count = count
  }

  /// Calls `body` with the first value's address.
  func withUnsafePointer<R>(_ body: (UnsafePointer<Float>) -> R) -> R {
    if let borrowed { return body(borrowed) }
    return owned.withUnsafeBufferPointer { body($0.baseAddress.unsafelyUnwrapped) }
  }
}

extension WeightLoader {
  /// A weight's values, as ``floats(_:shape:)`` (same checks, same errors), borrowed in place instead of copied when
  /// ``packing`` is ``WeightPacking/perCall`` and the tensor is Float32 bytes aligned for `Float`.
  func weightValues(_ name: String, shape expected: [Int]) throws(GraftError) -> WeightValues {
    let full = fullName(name)
    guard packing == .perCall, let tensor = table[full], tensor.shape == expected, tensor.dtype == .float32,
      let raw = tensor.bytes.contiguousBytes, let base = raw.baseAddress,
      Int(bitPattern: base) % MemoryLayout<Float>.alignment == 0, raw.count == tensor.elementCount * 4
    else { return WeightValues(try floats(name, shape: expected)) }
    let values = UnsafeBufferPointer(start: base.assumingMemoryBound(to: Float.self), count: tensor.elementCount)
    try Self.checkFinite(values, name: full)
    usage?.record(full)
    return WeightValues(borrowing: tensor.bytes, base: values.baseAddress.unsafelyUnwrapped, count: values.count)
  }
}
