import Glibc
import Graft

/// `graft-bench engine [sgemm|vit|all] [--runs N] [--threads T]`: SGEMM at ViT shapes and ViT forward latency.
///
/// Prints a header with the compiled features and thread count, one JSON line per case, and a summary table. The
/// thread count of the pool comes from `GRAFT_THREADS` (set it to 1 for single-thread runs); `--threads` caps SGEMM.
func runEngineBenchmarks(arguments: [String]) {
  var runs = 7
  var what = "all"
  var threads = EngineBuildInfo.defaultThreadCount
  var i = 0
  while i < arguments.count {
    switch arguments[i] {
    case "--runs" where i + 1 < arguments.count:
      runs = max(1, Int(arguments[i + 1]) ?? runs)
      i += 1
    case "--threads" where i + 1 < arguments.count:
      threads = max(1, Int(arguments[i + 1]) ?? threads)
      i += 1
    case let word: what = word
    }
    i += 1
  }
  print("# engine: \(EngineBuildInfo.features); pool threads \(EngineBuildInfo.defaultThreadCount); runs \(runs)")
  if what == "all" || what == "sgemm" { benchSGEMM(runs: runs, threads: threads) }
  if what == "all" || what == "vit" { benchViT(runs: runs) }
}

struct Timing {
  var median: Double
  var best: Double
  var worst: Double
  /// The median process CPU seconds per call: on a shared, oversubscribed host this, not wall time, shows the
  /// kernel's own speed for single-thread runs (multi-thread runs add the pool's spinning).
  var cpuMedian: Double
}

func processCPUSeconds() -> Double {
  var ts = timespec()
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
  return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// Median and best seconds of `runs` timed calls after one warm-up.
func time(runs: Int, _ body: () -> Void) -> Timing {
  body()
  let clock = ContinuousClock()
  var samples: [Double] = []
  var cpu: [Double] = []
  for _ in 0..<runs {
    let c0 = processCPUSeconds()
    let d = clock.measure(body)
    cpu.append(processCPUSeconds() - c0)
    samples.append(Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18)
  }
  samples.sort()
  cpu.sort()
  return Timing(
    median: samples[samples.count / 2], best: samples[0], worst: samples[samples.count - 1],
    cpuMedian: cpu[cpu.count / 2])
}

@inline(never)
private func sgemmOnce(
  _ m: Int, _ n: Int, _ k: Int, _ a: [Float], _ b: [Float], _ c: inout [Float], threads: Int
) {
  a.withUnsafeBufferPointer { ap in
    b.withUnsafeBufferPointer { bp in
      c.withUnsafeMutableBufferPointer { cp in
        guard let pa = ap.baseAddress, let pb = bp.baseAddress, let pc = cp.baseAddress else { return }
        pc.update(repeating: 0, count: m * n)
        Matmul.multiplyAdd(m: m, n: n, k: k, a: pa, lda: k, b: pb, ldb: n, c: pc, ldc: n, threads: threads)
      }
    }
  }
}

private func benchSGEMM(runs: Int, threads: Int) {
  let shapes = [(197, 2304, 768), (197, 3072, 768), (197, 768, 3072), (1576, 3072, 768), (1024, 1024, 1024)]
  print("| M×N×K | threads | median ms | GFLOP/s | CPU ms | GFLOP/CPU-s |")
  print("|---|---|---|---|---|---|")
  var rng: UInt64 = 42
  func next() -> Float {
    rng = rng &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
    return Float(rng >> 40) / Float(1 << 24) - 0.5
  }
  for (m, n, k) in shapes {
    let a = (0..<(m * k)).map { _ in next() }
    let b = (0..<(k * n)).map { _ in next() }
    var c = [Float](repeating: 0, count: m * n)
    for t in Set([1, threads]).sorted() {
      let timing = time(runs: runs) { sgemmOnce(m, n, k, a, b, &c, threads: t) }
      let gflops = 2 * Double(m) * Double(n) * Double(k) / timing.median / 1e9
      print(
        "{\"case\":\"sgemm\",\"m\":\(m),\"n\":\(n),\"k\":\(k),\"threads\":\(t),\"median_ms\":\(timing.median * 1e3),"
          + "\"best_ms\":\(timing.best * 1e3),\"max_ms\":\(timing.worst * 1e3),\"cpu_ms\":\(timing.cpuMedian * 1e3),"
          + "\"gflops\":\(gflops),\"kernels\":\"\(EngineBuildInfo.kernelName)\"}")
      let cpuRate = 2 * Double(m) * Double(n) * Double(k) / timing.cpuMedian / 1e9
      print(
        "| \(m)×\(n)×\(k) | \(t) | \(round2(timing.median * 1e3)) | \(round2(gflops)) | "
          + "\(round2(timing.cpuMedian * 1e3)) | \(round2(cpuRate)) |")
    }
  }
}

/// A timm ViT state dict with random weights (std 0.02, LayerNorms at 1), shapes as `vit_{small,base}_patch16_224`.
private func randomViT(width: Int, depth: Int, heads: Int) -> TensorTable {
  var table = TensorTable()
  var rng: UInt64 = 7
  func tensor(_ shape: [Int], fill: Float? = nil) -> Tensor {
    let count = shape.reduce(1, *)
    let values = (0..<count).map { _ -> Float in
      if let fill { return fill }
      rng = rng &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      return (Float(rng >> 40) / Float(1 << 24) - 0.5) * 0.07
    }
    return Tensor(float32: values, shape: shape)
  }
  var entries: [(String, Tensor)] = [
    ("cls_token", tensor([1, 1, width])), ("pos_embed", tensor([1, 197, width])),
    ("patch_embed.proj.weight", tensor([width, 3, 16, 16])), ("patch_embed.proj.bias", tensor([width])),
  ]
  for b in 0..<depth {
    let p = "blocks.\(b)."
    entries += [
      (p + "norm1.weight", tensor([width], fill: 1)), (p + "norm1.bias", tensor([width], fill: 0)),
      (p + "attn.qkv.weight", tensor([3 * width, width])), (p + "attn.qkv.bias", tensor([3 * width])),
      (p + "attn.proj.weight", tensor([width, width])), (p + "attn.proj.bias", tensor([width])),
      (p + "norm2.weight", tensor([width], fill: 1)), (p + "norm2.bias", tensor([width], fill: 0)),
      (p + "mlp.fc1.weight", tensor([4 * width, width])), (p + "mlp.fc1.bias", tensor([4 * width])),
      (p + "mlp.fc2.weight", tensor([width, 4 * width])), (p + "mlp.fc2.bias", tensor([width])),
    ]
  }
  entries += [
    ("norm.weight", tensor([width], fill: 1)), ("norm.bias", tensor([width], fill: 0)),
    ("head.weight", tensor([1000, width])), ("head.bias", tensor([1000])),
  ]
  for (name, t) in entries { try? table.append(name, t) }
  table.metadata["num_heads"] = .string(String(heads))
  return table
}

private func benchViT(runs: Int) {
  print("| model | batch | threads | median ms | best ms | CPU ms |")
  print("|---|---|---|---|---|---|")
  for (name, width, heads) in [("vit_small_patch16_224", 384, 6), ("vit_base_patch16_224", 768, 12)] {
    let table = randomViT(width: width, depth: 12, heads: heads)
    let model: VisionTransformer
    var options = VisionTransformer.Options()
    // timm's defaults for these models, as the PyTorch anchor builds them.
    (options.globalPool, options.normEps, options.activation) = (.token, 1e-6, .gelu)
    do { model = try VisionTransformer(table, options: options) } catch {
      print("could not build \(name): \(error)")
      continue
    }
    for batch in [1, 8] {
      let input = ModelCheck.randomInput(shape: [batch, 3, 224, 224], seed: 1)
      var sink: Float = 0
      let timing = time(runs: batch == 8 ? max(5, runs / 2) : runs) {
        sink += (try? model.forward(input).output.values[0]) ?? 0
      }
      let t = EngineBuildInfo.defaultThreadCount
      print(
        "{\"case\":\"vit\",\"model\":\"\(name)\",\"batch\":\(batch),\"threads\":\(t),"
          + "\"median_ms\":\(timing.median * 1e3),\"best_ms\":\(timing.best * 1e3),"
          + "\"cpu_ms\":\(timing.cpuMedian * 1e3),\"sink\":\(sink.isFinite)}")
      print(
        "| \(name) | \(batch) | \(t) | \(round2(timing.median * 1e3)) | \(round2(timing.best * 1e3)) | "
          + "\(round2(timing.cpuMedian * 1e3)) |")
    }
  }
}

func round2(_ v: Double) -> String {
  let r = Int((v * 100).rounded())
  let frac = r % 100
  return "\(r / 100).\(frac < 10 ? "0" : "")\(frac)"
}
