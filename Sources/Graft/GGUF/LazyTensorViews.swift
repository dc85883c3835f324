/// Tensors made from other tensors' bytes on demand: row permutations, stacks, slices.
///
/// Nothing is read until a writer
/// or the engine asks for a byte range, so converting a model costs one pass over its bytes whatever its size.
enum LazyTensorViews {
  /// A tensor whose bytes are `count` equal segments, segment `k` copied from `source` at `sourceOffset(k)`.
  static func gather(
    _ source: Tensor, shape: [Int], segmentBytes: Int, count: Int,
    sourceOffset: @escaping @Sendable (Int) -> Int
  ) -> Tensor {
    let bytes = source.bytes
    let total = segmentBytes * count
    let produced = ProducedBytes(byteCount: total) { range, buffer in
      var position = range.lowerBound
      while position < range.upperBound {
        let k = position / segmentBytes
        let within = position - k * segmentBytes
        let length = min(segmentBytes - within, range.upperBound - position)
        let start = sourceOffset(k) + within
        let destination = UnsafeMutableRawBufferPointer(
          rebasing: buffer[(position - range.lowerBound)..<(position - range.lowerBound + length)])
        try bytes.copyBytes(in: start..<(start + length), into: destination)
        position += length
      }
      // A writer streams forward: once the last bytes are produced, the source's pages will not be read again soon
      // (dropping mapped pages only costs a re-read if they are).
      if range.upperBound == total { bytes.discard(0..<bytes.byteCount) }
    }
    return Tensor(dtype: source.dtype, shape: shape, bytes: produced)
  }

  /// llama.cpp's Q/K row permutation (`LlamaModel.permute`) or its inverse, for a weight `[heads·D, in]` or a bias
  /// `[heads·D]`: GGUF row `h·D + 2i + s` is Hugging Face row `h·D + s·D/2 + i`, turning rotate-half pairs
  /// `(i, i + D/2)` into the adjacent pairs ggml's NORM RoPE rotates.
  ///
  /// - Throws: `invalidModel` when the rows are not `heads` whole heads of even size.
  static func permutedHeads(
    _ tensor: Tensor, heads: Int, toGGUF: Bool, name: String
  ) throws(GraftError) -> Tensor {
    let rows = tensor.shape.first ?? 0
    guard heads > 0, rows % heads == 0, (rows / heads) % 2 == 0 else {
      throw GraftError(
        .invalidModel,
        "has \(rows) rows, which are not \(heads) heads of an even size; the rotary permutation needs whole heads",
        tensor: name)
    }
    let d = rows / heads
    let half = d / 2
    let rowBytes = tensor.byteCount / max(rows, 1)
    let source: @Sendable (Int) -> Int = { row in
      let h = row / d
      let r = row % d
      // Forward: out (h, 2i + s) ← in (h, s·D/2 + i). Inverse: out (h, s·D/2 + i) ← in (h, 2i + s).
      let inRow = toGGUF ? h * d + (r % 2) * half + r / 2 : h * d + 2 * (r % half) + r / half
      return inRow * rowBytes
    }
    // A quantized tensor's bytes are its decoded Float32 values, so rows are gathered from those.
    return gather(tensor, shape: tensor.shape, segmentBytes: rowBytes, count: rows, sourceOffset: source)
  }

  /// `torch.stack(tensors, dim=0)`: every tensor must have the same dtype and shape.
  ///
  /// - Throws: `invalidModel` naming the first tensor that differs.
  static func stacked(_ tensors: [(name: String, tensor: Tensor)]) throws(GraftError) -> Tensor {
    guard let first = tensors.first else { throw GraftError(.invalidModel, "nothing to stack") }
    for t in tensors where t.tensor.dtype != first.tensor.dtype || t.tensor.shape != first.tensor.shape {
      throw GraftError(
        .invalidModel,
        "is \(t.tensor.dtype) \(t.tensor.shape) but \(first.name) is \(first.tensor.dtype) \(first.tensor.shape); "
          + "experts are stacked into one tensor and must match", tensor: t.name)
    }
    // Quantized experts contribute their decoded Float32 bytes.
    let parts = tensors.map(\.tensor.bytes)
    let each = parts[0].byteCount
    let produced = ProducedBytes(byteCount: each * parts.count) { range, buffer in
      var position = range.lowerBound
      while position < range.upperBound {
        let k = position / each
        let within = position - k * each
        let length = min(each - within, range.upperBound - position)
        let destination = UnsafeMutableRawBufferPointer(
          rebasing: buffer[(position - range.lowerBound)..<(position - range.lowerBound + length)])
        try parts[k].copyBytes(in: within..<(within + length), into: destination)
        // A writer streams forward: the expert just finished will not be read again.
        if within + length == each { parts[k].discard(0..<each) }
        position += length
      }
    }
    return Tensor(dtype: first.tensor.dtype, shape: [tensors.count] + first.tensor.shape, bytes: produced)
  }

  /// `t[index]`: one entry of the first axis (one expert of a stacked tensor).
  static func slice(_ tensor: Tensor, index: Int) -> Tensor {
    let inner = Array(tensor.shape.dropFirst())
    let each = tensor.byteCount / max(tensor.shape.first ?? 1, 1)
    if let mapped = tensor.bytes as? MappedBytes {
      // A stored (F32/F16/BF16) expert stays a view of the file: writers copy it inside the kernel and the engine
      // reads the mapping, as for any other stored tensor.
      let view = MappedBytes(region: mapped.region, offset: mapped.offset + index * each, count: each)
      return Tensor(dtype: tensor.dtype, shape: inner, bytes: view)
    }
    return gather(tensor, shape: inner, segmentBytes: each, count: 1) { _ in index * each }
  }

  /// `t[:, rows, ...]` of a tensor with at least two axes.
  static func rows(_ tensor: Tensor, _ rows: Range<Int>) -> Tensor {
    let outer = tensor.shape[0]
    let axis = tensor.shape[1]
    let rowBytes = tensor.byteCount / max(outer * axis, 1)
    var shape = tensor.shape
    shape[1] = rows.count
    return gather(tensor, shape: shape, segmentBytes: rows.count * rowBytes, count: outer) { k in
      (k * axis + rows.lowerBound) * rowBytes
    }
  }
}
