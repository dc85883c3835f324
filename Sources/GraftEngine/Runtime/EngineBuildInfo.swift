import CTargetFeatures

/// The CPU features the engine was compiled for, reported by `graft --version` and the benchmarks.
///
/// Kernels choose their code paths at compile time from these flags (see `CTargetFeatures.h`), so a baseline x86-64
/// build stays correct but runs the multiply-add kernels without fused instructions, several times slower. Build with
/// `-Xcc -march=x86-64-v3` for production use.
public enum EngineBuildInfo {
  /// Whether fused multiply-add instructions were enabled at compile time.
  public static var hasFMA: Bool { CTF_HAS_FMA != 0 }
  /// Whether hardware half-precision conversions were enabled at compile time.
  public static var hasF16C: Bool { CTF_HAS_F16C != 0 }
  /// Whether AVX2 was enabled at compile time.
  public static var hasAVX2: Bool { CTF_HAS_AVX2 != 0 }
  /// Whether AVX-512F was enabled at compile time.
  public static var hasAVX512F: Bool { CTF_HAS_AVX512F != 0 }

  /// A one-line summary such as `fma f16c avx2 (SGEMM 6x16 SIMD8, fused)`.
  public static var features: String {
    var names: [String] = []
    if hasFMA { names.append("fma") }
    if hasF16C { names.append("f16c") }
    if hasAVX2 { names.append("avx2") }
    if hasAVX512F { names.append("avx512f") }
    let list = names.isEmpty ? "baseline x86-64" : names.joined(separator: " ")
    return list
      + (hasFMA ? " (SGEMM 6x16 SIMD8, fused)" : " (SGEMM 6x16 SIMD8, unfused: build with -Xcc -march=x86-64-v3)")
  }

  /// The number of threads the engine uses by default: `GRAFT_THREADS` when set, else the processors available.
  public static var defaultThreadCount: Int { WorkerPool.defaultThreadCount }
}
