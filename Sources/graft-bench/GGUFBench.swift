import Graft

/// `graft-bench gguf …`: GGUF kernel throughput and writer memory (BENCHMARKS.md § GGUF).
func runGGUFBenchmarks(arguments: [String]) {
  do {
    switch arguments.first {
    case "kernels":
      let rest = Array(arguments.dropFirst())
      let runs = rest.firstIndex(of: "--runs").flatMap { rest.indices.contains($0 + 1) ? Int(rest[$0 + 1]) : nil }
      try ggufKernels(megabytes: Int(rest.first ?? "") ?? 64, runs: max(1, runs ?? 3))
    case "make-f32":
      guard arguments.count == 3, let mb = Int(arguments[2]) else { return ggufUsage() }
      try ggufMakeInput(path: arguments[1], megabytes: mb)
    case "write":
      guard arguments.count == 4, let target = GGUF.Target(name: arguments[3]) else { return ggufUsage() }
      try ggufWrite(input: arguments[1], output: arguments[2], target: target)
    default: ggufUsage()
    }
  } catch {
    print("error: \(error)")
  }
}

func ggufUsage() {
  print(
    """
    usage: graft-bench gguf kernels [MB] [--runs N]               dequantize/quantize Q8_0 and Q4_K, 1 thread and all
           graft-bench gguf make-f32 PATH MB             a GGUF of F32 [4096, n] weights with seeded values
           graft-bench gguf write INPUT OUTPUT TARGET    GGUF.write with a target (Q8_0, Q4_K_M, …): time, peak RSS
    """)
}

/// Seeded values in [-1, 1) (a 64-bit LCG), the same for every run.
func ggufValues(_ count: Int, seed: UInt64) -> [Float] {
  var state = seed
  return (0..<count).map { _ in
    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
    return Float(Int64(bitPattern: state) >> 40) / Float(1 << 23)
  }
}

func seconds(_ body: () throws -> Void) rethrows -> Double {
  let start = FileSystem.monotonicNanoseconds()
  try body()
  return Double(FileSystem.monotonicNanoseconds() - start) / 1e9
}

/// Throughput of the kernels on `megabytes` of Float32, on one thread and on all (`ParallelWork`).
func ggufKernels(megabytes: Int, runs: Int) throws {
  let count = megabytes << 18
  let values = ggufValues(count, seed: 1)
  print("GGUF kernels on \(megabytes) MB of F32, \(ParallelWork.threadCount) threads available")
  for type in [GGMLType.q8_0, .q4_K] {
    let blocks = count / type.blockElements
    let source = UnsafeMutablePointer<Float>.allocate(capacity: count)
    defer { source.deallocate() }
    source.initialize(from: values, count: count)
    let encoded = UnsafeMutableRawPointer.allocate(byteCount: blocks * type.blockBytes, alignment: 64)
    defer { encoded.deallocate() }
    let decoded = UnsafeMutablePointer<Float>.allocate(capacity: count)
    defer { decoded.deallocate() }
    let buffers = BenchBuffers(source: source, encoded: encoded, decoded: decoded)
    for threads in [1, ParallelWork.threadCount] {
      let parts = threads == 1 ? 1 : 8 * threads
      @Sendable func range(_ part: Int) -> Range<Int> { (blocks * part / parts)..<(blocks * (part + 1) / parts) }
      // Both types are supported, so the kernels do not throw here.
      let q = timeParts(parts: parts, serial: threads == 1, runs: runs) { part in
        let r = range(part)
        _ = try? GGUFQuantize.encode(
          type, values: buffers.source + r.lowerBound * type.blockElements, blockCount: r.count,
          into: buffers.encoded + r.lowerBound * type.blockBytes)
      }
      let d = timeParts(parts: parts, serial: threads == 1, runs: runs) { part in
        let r = range(part)
        try? GGUFDequantize.decode(
          type, blocks: buffers.encoded + r.lowerBound * type.blockBytes, blockCount: r.count,
          into: buffers.decoded + r.lowerBound * type.blockElements)
      }
      let gb = Double(count * 4) / 1e9
      print(
        "  \(type.name) \(threads == 1 ? "1 thread " : "\(threads) threads"): quantize "
          + Format.fixed(gb / q[0], digits: 3) + " GB/s of F32 in, dequantize " + Format.fixed(gb / d[0], digits: 3)
          + " GB/s of F32 out (best of \(runs))")
      for (what, samples) in [("quantize", q), ("dequantize", d)] {
        print(
          "{\"case\":\"gguf\",\"type\":\"\(type.name)\",\"op\":\"\(what)\",\"threads\":\(threads),\"gb\":\(gb),"
            + "\"seconds\":[\(samples.map { String($0) }.joined(separator: ","))]}")
      }
    }
  }
}

/// The benchmark's buffers, shared by parts that each touch their own blocks.
struct BenchBuffers: @unchecked Sendable {
  // Invariant: each part reads and writes only its own block range; timeParts returns after every part.
  let source: UnsafeMutablePointer<Float>
  let encoded: UnsafeMutableRawPointer
  let decoded: UnsafeMutablePointer<Float>
}

/// Runs `body` for every part (serially, or with ``ParallelWork``) `runs` times and returns the timings, fastest first.
func timeParts(parts: Int, serial: Bool, runs: Int, _ body: @escaping @Sendable (Int) -> Void) -> [Double] {
  var samples: [Double] = []
  for _ in 0..<runs {
    let t = seconds {
      if serial {
        for p in 0..<parts { body(p) }
      } else {
        ParallelWork.run(parts: parts, body)
      }
    }
    samples.append(t)
  }
  return samples.sorted()
}

/// Writes a GGUF of F32 `[4096, n]` weights totalling about `megabytes`, produced on the fly (never in memory).
func ggufMakeInput(path: String, megabytes: Int) throws {
  var table = TensorTable()
  table.metadata["general.architecture"] = "bench"
  let rows = 4096
  let columns = 4096
  let tensorBytes = rows * columns * 4
  for k in 0..<max(1, (megabytes << 20) / tensorBytes) {
    let bytes = ProducedBytes(byteCount: tensorBytes) { range, buffer in
      let first = range.lowerBound / 4
      let values = ggufValues((range.upperBound + 3) / 4 - first, seed: UInt64(k) << 32 | UInt64(first))
      values.withUnsafeBytes { raw in
        buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[(range.lowerBound % 4)...].prefix(range.count)))
      }
    }
    try table.append("blk.\(k).ffn_up.weight", Tensor(dtype: .float32, shape: [rows, columns], bytes: bytes))
  }
  let t = try seconds { try GGUF.write(table, to: path) }
  print(
    "wrote \(path): \(table.count) tensors, \(Format.bytes(table.storedByteCount)) in \(Format.fixed(t, digits: 2)) s")
}

/// Converts `input` to `target` and reports wall time and the process's peak resident size.
func ggufWrite(input: String, output: String, target: GGUF.Target) throws {
  var options = GGUF.TableWriteOptions()
  options.target = target
  var summary: WriteSummary?
  let t = try seconds {
    let table = try GGUF.read(path: input)
    summary = try GGUF.write(table, to: output, options: options, inputs: [input])
  }
  let written = summary?.bytesWritten ?? 0
  print(
    "\(input) → \(output) (\(target)): \(Format.bytes(written)) in \(Format.fixed(t, digits: 2)) s, peak RSS "
      + Format.bytes(FileSystem.peakResidentBytes()) + ", \(ParallelWork.threadCount) threads")
}
