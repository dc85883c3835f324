import GraftCore
import GraftEngine
import GraftSurgery

/// A matrix inside a tensor's bytes: `rows` of a row-major view with `columns` columns (a whole `[out, in]` weight,
/// or one expert's slice of a fused `[E, 2I, H]` stack).
struct LLMMatrixView {
  var tensor: Tensor
  var name: String
  var rows: Range<Int>
  var columns: Int

  /// The whole 2-D tensor.
  init(_ tensor: Tensor, name: String) {
    self.init(tensor, name: name, rows: 0..<(tensor.shape.first ?? 0), columns: tensor.shape.last ?? 0)
  }

  init(_ tensor: Tensor, name: String, rows: Range<Int>, columns: Int) {
    self.tensor = tensor
    self.name = name
    self.rows = rows
    self.columns = columns
  }
}

/// MLP arithmetic that reads its weights a block of rows at a time, so a check of a model far larger than memory
/// costs about 1 MiB of weights at a time (the engine's models hold every weight in Float32).
enum LLMStreamed {
  /// `x[T × in] · Wᵀ → [T × out]`.
  static func linear(_ w: LLMMatrixView, _ x: [Float], tokens: Int) throws(GraftError) -> [Float] {
    let k = w.columns
    let outCount = w.rows.count
    guard x.count == tokens * k else {
      throw GraftError(.invalidModel, "expects \(k) inputs per token, got \(x.count / max(tokens, 1))", tensor: w.name)
    }
    var xt = [Float](repeating: 0, count: k * tokens)
    for t in 0..<tokens { for j in 0..<k { xt[j * tokens + t] = x[t * k + j] } }
    var out = [Float](repeating: 0, count: tokens * outCount)
    var c = [Float]()
    try LLMRowReader.forEachBlock(w.tensor, name: w.name, rows: w.rows, columns: k) { first, n, v in
      c = [Float](repeating: 0, count: n * tokens)
      guard let a = v.baseAddress else { return }
      xt.withUnsafeBufferPointer { b in
        c.withUnsafeMutableBufferPointer { cp in
          guard let bp = b.baseAddress, let cb = cp.baseAddress else { return }
          Matmul.multiplyAdd(m: n, n: tokens, k: k, a: a, lda: k, b: bp, ldb: tokens, c: cb, ldc: tokens)
        }
      }
      let offset = first - w.rows.lowerBound
      for r in 0..<n { for t in 0..<tokens { out[t * outCount + offset + r] = c[r * tokens + t] } }
    }
    return out
  }

  /// `down(act(gate x) ⊙ up x)`.
  static func gatedMLP(
    gate: LLMMatrixView, up: LLMMatrixView, down: LLMMatrixView, _ x: [Float], tokens: Int,
    activation: LLMConfiguration.Activation
  ) throws(GraftError) -> [Float] {
    var g = try linear(gate, x, tokens: tokens)
    let u = try linear(up, x, tokens: tokens)
    for i in 0..<g.count { g[i] = act(g[i], activation) * u[i] }
    return try linear(down, g, tokens: tokens)
  }

  static func act(_ v: Float, _ a: LLMConfiguration.Activation) -> Float {
    switch a {
    case .silu: return v * Elementary.sigmoid(v)
    case .gelu: return Float(Elementary.gelu(Double(v)))
    case .geluTanh:
      let x = Double(v)
      let z = 0.797_884_560_802_865_4 * (x + 0.044_715 * x * x * x)
      return Float(0.5 * x * (1 + (1 - 2 / (Elementary.exp(2 * z) + 1))))
    }
  }

  /// A small tensor's values as Float.
  static func floats(_ t: Tensor, name: String) throws(GraftError) -> [Float] {
    var out = [Float](repeating: 0, count: t.elementCount)
    do {
      try t.withUnsafeBytes { raw in
        try out.withUnsafeMutableBufferPointer { dst throws(GraftError) in
          try ElementDecoding.decodeToFloat(raw, dtype: t.dtype, into: dst)
        }
      }
    } catch let error as GraftError {
      throw error.forTensor(name)
    } catch {
      throw GraftError(.io, "could not read the tensor's bytes", tensor: name, cause: error)
    }
    return out
  }

  /// Whether two tensors hold the same bytes: the same storage object, or equal when streamed side by side.
  static func sameBytes(_ a: Tensor, _ b: Tensor, name: String) throws(GraftError) -> Bool {
    guard a.dtype == b.dtype, a.shape == b.shape else { return false }
    if a.bytes === b.bytes { return true }
    return try sameBytes(a, 0..<a.byteCount, b, 0..<b.byteCount, name: name)
  }

  /// Whether the byte ranges of two tensors are equal, streamed side by side (pages dropped as they are read).
  static func sameBytes(
    _ a: Tensor, _ ra: Range<Int>, _ b: Tensor, _ rb: Range<Int>, name: String
  ) throws(GraftError) -> Bool {
    guard ra.count == rb.count, ra.upperBound <= a.byteCount, rb.upperBound <= b.byteCount else { return false }
    let chunk = 4 << 20
    if let da = a.bytes.contiguousBytes, let db = b.bytes.contiguousBytes {
      // Both in memory (mapped files): one address means one set of bytes; otherwise compare in place.
      if da.baseAddress.map({ $0 + ra.lowerBound }) == db.baseAddress.map({ $0 + rb.lowerBound }) { return true }
      var done = 0
      while done < ra.count {
        let n = min(chunk, ra.count - done)
        let rx = (ra.lowerBound + done)..<(ra.lowerBound + done + n)
        let ry = (rb.lowerBound + done)..<(rb.lowerBound + done + n)
        let same = RawBytes.equal(UnsafeRawBufferPointer(rebasing: da[rx]), UnsafeRawBufferPointer(rebasing: db[ry]))
        a.bytes.discard(rx)
        b.bytes.discard(ry)
        guard same else { return false }
        done += n
      }
      return true
    }
    let x = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 64)
    defer { x.deallocate() }
    let y = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 64)
    defer { y.deallocate() }
    var done = 0
    while done < ra.count {
      let n = min(chunk, ra.count - done)
      let rx = (ra.lowerBound + done)..<(ra.lowerBound + done + n)
      let ry = (rb.lowerBound + done)..<(rb.lowerBound + done + n)
      let bx = UnsafeMutableRawBufferPointer(rebasing: x[0..<n])
      let by = UnsafeMutableRawBufferPointer(rebasing: y[0..<n])
      do {
        try a.bytes.copyBytes(in: rx, into: bx)
        try b.bytes.copyBytes(in: ry, into: by)
      } catch {
        throw GraftError(.io, "could not read the tensor's bytes", tensor: name, cause: error)
      }
      a.bytes.discard(rx)
      b.bytes.discard(ry)
      guard RawBytes.equal(UnsafeRawBufferPointer(bx), UnsafeRawBufferPointer(by)) else { return false }
      done += n
    }
    return true
  }
}
