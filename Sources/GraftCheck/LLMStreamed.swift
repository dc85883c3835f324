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

  /// Whether every element is +0, streamed a chunk at a time.
  ///
  /// No decode: a float is +0 exactly when all its bits are zero.
  static func isPositiveZero(_ t: Tensor, name: String) throws(GraftError) -> Bool {
    var zero = true
    do {
      try t.forEachChunk(chunkSize: 1 << 20) { chunk in
        if zero && chunk.contains(where: { $0 != 0 }) { zero = false }
      }
    } catch {
      throw GraftError.reading(error, tensor: name)
    }
    return zero
  }

  /// A small tensor's values as Float.
  static func floats(_ t: Tensor, name: String) throws(GraftError) -> [Float] { try t.floatValues(name: name) }

}
