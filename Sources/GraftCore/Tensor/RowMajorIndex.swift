/// A position in a shape, walked in row-major (C) order one element at a time: the odometer behind strided copies
/// such as a transpose or a Fortran-to-C reorder.
public struct RowMajorIndex: Sendable {
  /// The coordinates, one per dimension.
  public var coordinates: [Int] { position }
  @usableFromInline var position: [Int]
  @usableFromInline let shape: [Int]

  /// The position of element `element` (counted in row-major order) of `shape`.
  @inlinable public init(shape: [Int], element: Int = 0) {
    self.shape = shape
    position = [Int](repeating: 0, count: shape.count)
    var rest = element
    for d in stride(from: shape.count - 1, through: 0, by: -1) {
      position[d] = rest % max(shape[d], 1)
      rest /= max(shape[d], 1)
    }
  }

  /// Moves to the next element; after the last one every coordinate is back at 0.
  @inlinable public mutating func advance() {
    var d = position.count - 1
    while d >= 0 {
      position[d] += 1
      if position[d] < shape[d] { return }
      position[d] = 0
      d -= 1
    }
  }

  /// The element offset of this position under `strides` (elements, one per dimension).
  @inlinable public func offset(strides: [Int]) -> Int {
    var offset = 0
    for d in position.indices { offset += position[d] * strides[d] }
    return offset
  }
}
