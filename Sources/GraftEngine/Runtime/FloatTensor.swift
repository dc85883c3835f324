public import GraftCore

/// A dense Float32 tensor in row-major order: the engine's activations, inputs and outputs.
///
/// The engine computes in Float32 whatever the checkpoint stores; weights are upcast once when a model is built.
public struct FloatTensor: Sendable, Equatable {
  /// The dimensions.
  public var shape: [Int]
  /// The values, row-major; `values.count` is the product of `shape`.
  public var values: [Float]

  /// Creates a tensor from values and a shape whose product must equal the value count.
  ///
  /// - Throws: `invalidArgument` when the shape does not match the value count.
  public init(shape: [Int], values: [Float]) throws(GraftError) {
    guard shape.allSatisfy({ $0 >= 0 }), shape.reduce(1, { $0 &* $1 }) == values.count else {
      throw GraftError(.invalidArgument, "shape \(shape) does not hold \(values.count) values")
    }
    self.shape = shape
    self.values = values
  }

  /// Creates a tensor without checking the shape; callers inside the engine build both together.
  init(unchecked shape: [Int], values: [Float]) {
    self.shape = shape
    self.values = values
  }

  /// Creates a zero-filled tensor.
  public init(zeros shape: [Int]) {
    self.shape = shape
    self.values = [Float](repeating: 0, count: shape.reduce(1, *))
  }

  /// The number of elements.
  public var count: Int { values.count }

  /// The largest magnitude, ignoring NaN (0 for an empty tensor).
  public var maxMagnitude: Float { values.reduce(0) { max($0, abs($1)) } }
}

/// Allocates a Float array of `count` elements whose contents the caller fully overwrites.
@inline(__always)
func uninitializedFloats(_ count: Int, _ body: (UnsafeMutablePointer<Float>) -> Void) -> [Float] {
  [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
    if let base = buffer.baseAddress { body(base) }
    initialized = count
  }
}
