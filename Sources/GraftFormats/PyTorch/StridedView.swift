public import GraftCore

/// Turns a (storage, offset, shape, strides) view into a tensor in C order.
///
/// Contiguous views over mapped storage stay zero-copy slices; other views become a ``ProducedBytes`` that
/// gathers elements on demand, so a transposed 2 GB weight never needs 2 GB of extra memory.
public enum StridedView {
  /// Views up to this many bytes are never refused for expanding their storage (4 GiB).
  public static let viewBombFloorBytes = 1 << 32
  /// The largest ratio of a view's bytes to its storage's bytes above ``viewBombFloorBytes``.
  public static let viewBombMaximumExpansion = 1000

  /// Builds the tensor of a view.
  ///
  /// - Parameters:
  ///   - storage: The storage bytes (a mapped record, an inflated member, a legacy stream slice).
  ///   - offset: The first element, in elements of `dtype`.
  ///   - swapBytes: Whether elements are big-endian and must be reversed.
  /// - Throws: `invalidTensorInfo` when the view reaches beyond the storage, `unsupportedDType` for sub-byte types,
  ///   `overflow` when sizes overflow, `limitExceeded` for a view over 4 GiB that expands its storage more than
  ///   1000 times.
  public static func tensor(
    storage: any TensorByteSource, dtype: DType, shape: [Int], strides: [Int], offset: Int, swapBytes: Bool = false
  ) throws(GraftError) -> Tensor {
    guard let width = dtype.byteWidth else {
      throw GraftError(.unsupportedDType, "\(dtype) views are not supported (sub-byte elements)")
    }
    guard shape.count == strides.count, shape.allSatisfy({ $0 >= 0 }), strides.allSatisfy({ $0 >= 0 }), offset >= 0
    else {
      throw GraftError(
        .invalidTensorInfo, "invalid view: size \(shape), stride \(strides), offset \(offset) (negatives not allowed)")
    }
    guard let count = Checked.product(shape), let byteCount = Checked.multiply(count, width) else {
      throw GraftError(.overflow, "shape \(shape) of \(dtype) overflows")
    }
    if count == 0 { return Tensor(dtype: dtype, shape: shape, bytes: HeapBytes([])) }
    var last = offset
    for (s, st) in zip(shape, strides) {
      guard let span = Checked.multiply(s - 1, st), let next = Checked.add(last, span) else {
        throw GraftError(.overflow, "the extent of size \(shape) with stride \(strides) overflows")
      }
      last = next
    }
    guard let end = Checked.multiply(last + 1, width), end <= storage.byteCount else {
      throw GraftError(
        .invalidTensorInfo,
        "the view (offset \(offset), size \(shape), stride \(strides)) needs \(last + 1) elements of \(dtype) "
          + "but the storage holds only \(storage.byteCount / width)")
    }
    // A view may repeat storage elements (stride 0, `torch.expand`), so a tiny storage can describe a huge tensor:
    // the same bomb rule as HDF5 datasets (more than 4 GiB and more than 1000 times the storage) keeps a 5 KB file
    // from turning into terabytes of output.
    guard byteCount <= viewBombFloorBytes || byteCount / max(storage.byteCount, 1) <= viewBombMaximumExpansion else {
      throw GraftError(
        .limitExceeded,
        "the view (size \(shape), stride \(strides)) is \(byteCount) bytes but its storage only \(storage.byteCount); "
          + "views over 4 GiB may expand their storage at most \(viewBombMaximumExpansion) times")
    }
    let start = offset * width
    let swapWidth = NumPyDescr.swapWidth(dtype)
    if isContiguous(shape: shape, strides: strides) {
      if !swapBytes, let mapped = storage as? MappedBytes {
        return Tensor(
          dtype: dtype, shape: shape,
          bytes: MappedBytes(region: mapped.region, offset: mapped.offset + start, count: byteCount))
      }
      let source = storage
      return Tensor(
        dtype: dtype, shape: shape,
        bytes: ProducedBytes(byteCount: byteCount, storage: storage) { range, buffer in
          if swapBytes {
            try alignedCopy(range, buffer, width: width) { r, b in
              try source.copyBytes(in: (start + r.lowerBound)..<(start + r.upperBound), into: b)
              b.reverseBytes(ofElementsOfWidth: swapWidth)
            }
          } else {
            try source.copyBytes(in: (start + range.lowerBound)..<(start + range.upperBound), into: buffer)
          }
        })
    }
    let source = storage
    return Tensor(
      dtype: dtype, shape: shape,
      bytes: ProducedBytes(byteCount: byteCount, storage: storage) { range, buffer in
        try alignedCopy(range, buffer, width: width) { r, b in
          try gather(
            source, shape: shape, strides: strides, offset: offset, width: width,
            elements: (r.lowerBound / width)..<(r.upperBound / width), into: b)
          if swapBytes { b.reverseBytes(ofElementsOfWidth: swapWidth) }
        }
      })
  }

  /// Whether strides are the C-order strides of the shape (dimensions of size 1 may have any stride).
  public static func isContiguous(shape: [Int], strides: [Int]) -> Bool {
    var expected = 1
    for d in stride(from: shape.count - 1, through: 0, by: -1) {
      if shape[d] != 1 && strides[d] != expected { return false }
      expected *= shape[d]
    }
    return true
  }

  /// Runs `fill` on whole elements: directly when `range` is element-aligned, through a temporary otherwise.
  private static func alignedCopy(
    _ range: Range<Int>, _ buffer: UnsafeMutableRawBufferPointer, width: Int,
    _ fill: (Range<Int>, UnsafeMutableRawBufferPointer) throws -> Void
  ) throws {
    if range.lowerBound % width == 0 && range.upperBound % width == 0 {
      try fill(range, buffer)
      return
    }
    let lo = range.lowerBound / width * width
    let hi = (range.upperBound + width - 1) / width * width
    let temp = UnsafeMutableRawBufferPointer.allocate(byteCount: hi - lo, alignment: 16)
    defer { temp.deallocate() }
    try fill(lo..<hi, temp)
    buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: temp[(range.lowerBound - lo)..<(range.upperBound - lo)]))
  }

  private static func gather(
    _ source: any TensorByteSource, shape: [Int], strides: [Int], offset: Int, width: Int, elements: Range<Int>,
    into out: UnsafeMutableRawBufferPointer
  ) throws {
    guard let dst = out.baseAddress, !elements.isEmpty else { return }
    let rank = shape.count
    var index = [Int](repeating: 0, count: rank)
    var rest = elements.lowerBound
    for d in stride(from: rank - 1, through: 0, by: -1) {
      index[d] = rest % shape[d]
      rest /= shape[d]
    }
    let direct = source.contiguousBytes
    let innerSize = rank > 0 ? shape[rank - 1] : 1
    let innerStride = rank > 0 ? strides[rank - 1] : 0
    var produced = 0
    let total = elements.count
    while produced < total {
      var src = offset
      for d in 0..<rank { src += index[d] * strides[d] }
      let run = min(innerSize - (rank > 0 ? index[rank - 1] : 0), total - produced)
      let target = dst + produced * width
      if innerStride == 1 {
        if let direct, let base = direct.baseAddress {
          target.copyMemory(from: base + src * width, byteCount: run * width)
        } else {
          try source.copyBytes(
            in: (src * width)..<((src + run) * width),
            into: UnsafeMutableRawBufferPointer(start: target, count: run * width))
        }
      } else if innerStride == 0 {
        // A broadcast (`expand`) dimension: one element, then doubling copies of what is already written.
        if let direct, let base = direct.baseAddress {
          target.copyMemory(from: base + src * width, byteCount: width)
        } else {
          try source.copyBytes(
            in: (src * width)..<((src + 1) * width), into: UnsafeMutableRawBufferPointer(start: target, count: width))
        }
        var filled = 1
        while filled < run {
          let n = min(filled, run - filled)
          (target + filled * width).copyMemory(from: target, byteCount: n * width)
          filled += n
        }
      } else if let direct, let base = direct.baseAddress {
        let from = UnsafeRawPointer(base) + src * width
        let step = innerStride * width
        // Typed loads and stores: a memmove call per element is several times slower (and far slower under ASan).
        switch width {
        case 1: stridedCopy(UInt8.self, from: from, step: step, to: target, count: run)
        case 2: stridedCopy(UInt16.self, from: from, step: step, to: target, count: run)
        case 4: stridedCopy(UInt32.self, from: from, step: step, to: target, count: run)
        case 8: stridedCopy(UInt64.self, from: from, step: step, to: target, count: run)
        default:
          for k in 0..<run { (target + k * width).copyMemory(from: from + k * step, byteCount: width) }
        }
      } else {
        for k in 0..<run {
          let s = (src + k * innerStride) * width
          try source.copyBytes(
            in: s..<(s + width), into: UnsafeMutableRawBufferPointer(start: target + k * width, count: width))
        }
      }
      produced += run
      // Advance the index by `run` along the innermost dimension, carrying outwards.
      if rank == 0 { break }
      index[rank - 1] += run
      var d = rank - 1
      while d > 0 && index[d] >= shape[d] {
        index[d] = 0
        index[d - 1] += 1
        d -= 1
      }
    }
  }

  @inline(__always)
  private static func stridedCopy<T: FixedWidthInteger>(
    _: T.Type, from: UnsafeRawPointer, step: Int, to: UnsafeMutableRawPointer, count: Int
  ) {
    for k in 0..<count {
      to.storeBytes(
        of: from.loadUnaligned(fromByteOffset: k * step, as: T.self), toByteOffset: k * MemoryLayout<T>.size, as: T.self
      )
    }
  }
}
