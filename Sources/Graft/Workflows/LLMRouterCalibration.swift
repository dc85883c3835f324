/// Router rows from the dense model's hidden states on calibration token ids (mergekit's `hidden` gate mode).
///
/// Like mergekit, the vector of an expert is the residual stream entering the layer (not the post-attention-norm
/// activation the router will see), averaged and L2-normalised; unlike mergekit, one model provides every expert,
/// so the calibration sequences are dealt to the experts: sequence n calibrates expert n mod E.
enum LLMRouterCalibration {
  static func rows(
    folder: HuggingFaceFolder, configuration c: LLMConfiguration, tokens: [[Int32]], experts e: Int, file: String
  ) throws -> [Int: [Float]] {
    guard tokens.count >= e else {
      throw GraftError(
        .invalidArgument,
        "\(tokens.count) calibration sequence(s) for \(e) experts: sequence n calibrates expert n mod E, so every "
          + "expert needs one", file: file
      ).resolved(by: "calibration")
    }
    let model: CausalLM
    do { model = try CausalLM(configuration: c, weights: folder.table) } catch {
      throw error.inFile(folder.path).on(.input)
    }
    let out: CausalLM.Output
    do { out = try model.forward(tokens: tokens, hiddenStates: true) } catch { throw error.inFile(file).on(.input) }
    let h = c.hiddenSize
    let t = tokens[0].count
    let embedded = try embeddings(folder.table, tokens: tokens, hidden: h)
    var rows: [Int: [Float]] = [:]
    for layer in 0..<c.layerCount {
      let input = layer == 0 ? embedded : out.hiddenStates[layer - 1].values
      var r = [Float](repeating: 0, count: e * h)
      for x in 0..<e {
        var sum = [Double](repeating: 0, count: h)
        var n = 0
        for s in stride(from: x, to: tokens.count, by: e) {
          for p in 0..<t {
            for j in 0..<h { sum[j] += Double(input[(s * t + p) * h + j]) }
            n += 1
          }
        }
        let mean = sum.map { $0 / Double(max(n, 1)) }
        let norm = mean.reduce(0) { $0 + $1 * $1 }.squareRoot()
        for j in 0..<h { r[x * h + j] = norm > 0 ? Float(mean[j] / norm) : 0 }
      }
      rows[layer] = r
    }
    return rows
  }

  /// The embedding rows of the tokens, `[B·T × H]`.
  static func embeddings(_ table: TensorTable, tokens: [[Int32]], hidden h: Int) throws -> [Float] {
    let name = "model.embed_tokens.weight"
    guard let w = table[name], let size = w.dtype.byteWidth, w.shape.count == 2, w.shape[1] == h else {
      throw GraftError(.invalidModel, "missing or misshapen embedding matrix", tensor: name).on(.input)
    }
    var out: [Float] = []
    out.reserveCapacity(tokens.count * (tokens.first?.count ?? 0) * h)
    var raw = [UInt8](repeating: 0, count: h * size)
    var values = [Float](repeating: 0, count: h)
    for id in tokens.joined() {
      let range = (Int(id) * h * size)..<((Int(id) + 1) * h * size)
      guard range.upperBound <= w.byteCount else {
        throw GraftError(.invalidArgument, "token id \(id) is outside the vocabulary \(w.shape[0])", tensor: name)
      }
      try raw.withUnsafeMutableBytes { try w.bytes.copyBytes(in: range, into: $0) }
      try raw.withUnsafeBytes { b in
        try values.withUnsafeMutableBufferPointer { v throws(GraftError) in
          try ElementDecoding.decodeToFloat(b, dtype: w.dtype, into: v)
        }
      }
      out += values
    }
    return out
  }
}
