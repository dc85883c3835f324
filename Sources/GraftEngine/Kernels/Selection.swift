public import GraftCore

/// Top-k and gather, the selection kernels routing and pooling need.
public enum Selection {
  /// The `k` largest values of each row of `x` (`[rows × width]`), as indices and values in descending order.
  ///
  /// Ties keep the lower index first, as `torch.topk` does on CPU for sorted output. NaN ranks above every number,
  /// also as in PyTorch.
  public static func topK(_ x: FloatTensor, k: Int) throws(GraftError) -> (indices: [[Int]], values: [[Float]]) {
    guard let width = x.shape.last, k >= 0, k <= width else {
      throw GraftError(.invalidArgument, "top-k with k = \(k) over a last dimension of \(x.shape.last ?? 0)")
    }
    let rows = width == 0 ? 0 : x.count / width
    var indices: [[Int]] = []
    var values: [[Float]] = []
    indices.reserveCapacity(rows)
    values.reserveCapacity(rows)
    func ranksAbove(_ a: Float, _ ia: Int, _ b: Float, _ ib: Int) -> Bool {
      if a.isNaN != b.isNaN { return a.isNaN }
      if a != b && !(a.isNaN && b.isNaN) { return a > b }
      return ia < ib
    }
    for r in 0..<rows {
      var best: [(Int, Float)] = []
      best.reserveCapacity(k + 1)
      for j in 0..<width {
        let v = x.values[r * width + j]
        if best.count == k, let last = best.last, !ranksAbove(v, j, last.1, last.0) { continue }
        var pos = best.count
        while pos > 0 && ranksAbove(v, j, best[pos - 1].1, best[pos - 1].0) { pos -= 1 }
        best.insert((j, v), at: pos)
        if best.count > k { best.removeLast() }
      }
      indices.append(best.map(\.0))
      values.append(best.map(\.1))
    }
    return (indices, values)
  }

  /// The rows of `x` (`[rows × width]`, leading dimensions flattened) at `indices`, as `[indices.count × width]`.
  public static func gatherRows(_ x: FloatTensor, indices: [Int]) throws(GraftError) -> FloatTensor {
    guard let width = x.shape.last, width > 0 else {
      throw GraftError(.invalidArgument, "gather from a tensor of shape \(x.shape)")
    }
    let rows = x.count / width
    var out: [Float] = []
    out.reserveCapacity(indices.count * width)
    for i in indices {
      guard i >= 0 && i < rows else {
        throw GraftError(.invalidArgument, "gather index \(i) is outside 0..<\(rows)")
      }
      out.append(contentsOf: x.values[(i * width)..<((i + 1) * width)])
    }
    return FloatTensor(unchecked: [indices.count, width], values: out)
  }
}
