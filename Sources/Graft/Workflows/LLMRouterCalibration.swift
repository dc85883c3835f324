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
    // Only the layer inputs are wanted: the logits of the last position alone, and the embedding rows the model
    // already holds.
    let out: CausalLM.Output
    let embedded: [Float]
    do {
      let session = model.makeSession(batch: tokens.count, capacity: tokens[0].count)
      out = try session.append(tokens, allLogits: false, hiddenStates: true)
      embedded = try model.embed(tokens)
    } catch { throw error.inFile(file).on(.input) }
    let h = c.hiddenSize
    let t = tokens[0].count
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
}
