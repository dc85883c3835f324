import Graft

/// `graft-bench llm FOLDER [--tokens T] [--runs N]`: prefill throughput of a Hugging Face decoder folder.
///
/// Feeds one sequence of `T` seeded token ids (logits for every position, as transformers' forward computes them)
/// after one warm-up run and prints the build time, the median and best prefill seconds and tokens/s. Threads come
/// from `GRAFT_THREADS`.
func runLLMBenchmark(arguments: [String]) {
  // Flags take one value each; the remaining word is the folder.
  var values: [String: Int] = ["--runs": 5, "--tokens": 512]
  var folder: String?
  var rest = arguments[...]
  while let word = rest.popFirst() {
    if values[word] != nil, let value = rest.popFirst().flatMap({ Int($0) }) {
      values[word] = max(1, value)
    } else {
      folder = word
    }
  }
  let runs = values["--runs", default: 5]
  let tokens = values["--tokens", default: 512]
  guard let folder else {
    print("usage: graft-bench llm FOLDER [--tokens T] [--runs N]")
    return
  }
  do {
    let clock = ContinuousClock()
    func seconds(_ d: Duration) -> Double {
      Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }
    var model: CausalLM?
    let build = try clock.measure {
      let hf = try HuggingFaceFolder.open(folder)
      model = try CausalLM(configuration: hf.llmConfiguration(), weights: hf.table)
    }
    guard let model else { return }
    let c = model.configuration
    var rng = SplitMix64(seed: 0)
    let ids: [Int32] = (0..<tokens).map { _ in Int32(rng.below(c.vocabularySize)) }
    print(
      "# \(c.family.rawValue) hidden \(c.hiddenSize), \(c.layerCount) layers, \(c.attentionHeads)/\(c.keyValueHeads) "
        + "heads, MLP \(c.intermediateSize), vocab \(c.vocabularySize); engine \(EngineBuildInfo.features); "
        + "pool threads \(EngineBuildInfo.defaultThreadCount); build \(round3(seconds(build))) s")
    _ = try model.forward(tokens: [ids])
    var samples: [Double] = []
    for _ in 0..<runs {
      let d = try clock.measure { _ = try model.forward(tokens: [ids]) }
      samples.append(seconds(d))
      print("{\"tokens\": \(tokens), \"seconds\": \(round3(seconds(d)))}")
    }
    samples.sort()
    let median = samples[samples.count / 2]
    print(
      "prefill \(tokens) tokens: median \(round3(median)) s (\(Int(Double(tokens) / median)) tok/s), "
        + "best \(round3(samples[0])) s (\(Int(Double(tokens) / samples[0])) tok/s), \(runs) runs")
  } catch {
    print("error: \(error)")
  }
}

private func round3(_ v: Double) -> String {
  let m = Int((v * 1000).rounded())
  let frac = String(m % 1000)
  return "\(m / 1000)." + String(repeating: "0", count: 3 - frac.count) + frac
}
