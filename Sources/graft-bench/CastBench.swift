import Graft

/// `graft-bench cast [--runs N]`: throughput of the cast kernels that dominate conversions, in process.
///
/// 16 Mi elements per case (64 MiB of float32), values ~N(0, 0.02²) as in trained weights, so every block takes the
/// vectorised fast path; a second row per narrowing case puts one NaN in every 256-element block, so every block is
/// redone by the exact lane code (the worst case).
func runCastBenchmarks(arguments: [String]) {
  var runs = 7
  if let i = arguments.firstIndex(of: "--runs"), i + 1 < arguments.count { runs = max(1, Int(arguments[i + 1]) ?? 7) }
  let count = 16 << 20
  var rng = SplitMix64(seed: 1)
  let floats = (0..<count).map { _ in rng.approximateNormalFloat() * 0.02 }
  var withNaNs = floats
  for i in stride(from: 0, to: count, by: 256) { withNaNs[i] = .nan }
  print("# cast: \(count) elements, runs \(runs), median of wall and process CPU time")
  print("| case | source data | median ms | source GB/s | CPU ms |")
  print("|---|---|---|---|---|")
  let pairs: [(DType, DType)] = [
    (.float32, .bfloat16), (.float32, .float16), (.bfloat16, .float32), (.float16, .float32),
    (.float64, .float32), (.float32, .float64), (.float32, .float8E4M3), (.float32, .float8E5M2),
  ]
  for (from, to) in pairs {
    for (label, values) in [("normal", floats), ("NaN per block", withNaNs)] {
      if label != "normal" && (from == .bfloat16 || from == .float16 || to == .float64 || to.byteWidth == 1) {
        continue
      }
      guard let source = try? encode(values, as: from), let width = to.byteWidth else { continue }
      let target = UnsafeMutableRawBufferPointer.allocate(byteCount: count * width, alignment: 64)
      defer { target.deallocate() }
      var failed = false
      let timing = time(runs: runs) {
        var report = CastReport()
        source.withUnsafeBytes { src in
          do {
            try Cast.convert(
              src, from: from, into: target, to: to, count: count, options: CastOptions(), report: &report)
          } catch { failed = true }
        }
      }
      guard !failed else {
        print("| \(from) → \(to) | \(label) | failed | | |")
        continue
      }
      let rate = Double(source.count) / timing.median / 1e9
      print(
        "| \(from) → \(to) | \(label) | \(round2(timing.median * 1e3)) | \(round2(rate)) | "
          + "\(round2(timing.cpuMedian * 1e3)) |")
    }
  }
}

/// `values` stored as `dtype` (float32 values cast through the library, so the bench needs no codec of its own).
private func encode(_ values: [Float], as dtype: DType) throws -> [UInt8] {
  let bytes = values.withUnsafeBytes { Array($0) }
  guard dtype != .float32, let width = dtype.byteWidth else { return bytes }
  var out = [UInt8](repeating: 0, count: values.count * width)
  var report = CastReport()
  try bytes.withUnsafeBytes { src in
    try out.withUnsafeMutableBytes { dst in
      try Cast.convert(
        src, from: .float32, into: dst, to: dtype, count: values.count, options: CastOptions(), report: &report)
    }
  }
  return out
}
