import Graft

// graft-bench: release-mode benchmarks. Whole-command conversion benchmarks (with their Python and cp anchors) live in
// scripts/bench/convert.py; this executable measures in-process kernels, where process start-up would dominate.
let arguments = Array(CommandLine.arguments.dropFirst())
switch arguments.first {
case "engine":
  runEngineBenchmarks(arguments: Array(arguments.dropFirst()))
case "llm":
  runLLMBenchmark(arguments: Array(arguments.dropFirst()))
case "gguf":
  runGGUFBenchmarks(arguments: Array(arguments.dropFirst()))
case "cast":
  runCastBenchmarks(arguments: Array(arguments.dropFirst()))
default:
  print(
    """
    usage: graft-bench engine sgemm|vit [--runs N] [--threads T]
           graft-bench llm HF_FOLDER [--tokens T] [--runs N]   (threads: GRAFT_THREADS)
           graft-bench gguf kernels|make-f32|write …
           graft-bench cast [--runs N]
      build with: swift build -c release -Xcc -march=x86-64-v3 --product graft-bench
      engine features: \(EngineBuildInfo.features)
    conversion benchmarks: scripts/bench/convert.py GRAFT_BINARY (see BENCHMARKS.md)
    """)
}
