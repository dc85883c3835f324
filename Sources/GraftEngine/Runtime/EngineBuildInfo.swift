import CTargetFeatures

/// The kernels the engine runs and the CPU features its Swift code was compiled for, reported by `graft --version`,
/// `graft run` and the benchmarks.
///
/// The SGEMM and row kernels are C, one variant per instruction set, chosen when the process starts (``kernels``);
/// the compile-time flags below only affect the remaining Swift loops (see `CTargetFeatures.h`).
public enum EngineBuildInfo {
  /// Whether fused multiply-add instructions were enabled at compile time.
  public static var hasFMA: Bool { CTF_HAS_FMA != 0 }
  /// Whether hardware half-precision conversions were enabled at compile time.
  public static var hasF16C: Bool { CTF_HAS_F16C != 0 }
  /// Whether AVX2 was enabled at compile time.
  public static var hasAVX2: Bool { CTF_HAS_AVX2 != 0 }
  /// Whether AVX-512F was enabled at compile time.
  public static var hasAVX512F: Bool { CTF_HAS_AVX512F != 0 }

  /// The kernel variant in use: `portable`, `avx2` or `avx512`.
  public static var kernelName: String { KernelSet.active.name }

  /// The kernels in use and how they were chosen, such as `avx512 (SGEMM 12x32 AVX-512F FMA; chosen by CPUID)`.
  public static var kernels: String {
    let active = KernelSet.active
    let how = KernelSet.selection.note ?? "chosen by CPUID"
    return "\(active.name) (\(active.sgemmDescription); \(how))"
  }

  /// A one-line summary such as `kernels avx512 (SGEMM 12x32 AVX-512F FMA; chosen by CPUID); Swift code compiled
  /// for fma f16c avx2`.
  public static var features: String {
    var names: [String] = []
    if hasFMA { names.append("fma") }
    if hasF16C { names.append("f16c") }
    if hasAVX2 { names.append("avx2") }
    if hasAVX512F { names.append("avx512f") }
    let list = names.isEmpty ? "baseline x86-64" : names.joined(separator: " ")
    return "kernels \(kernels); Swift code compiled for \(list)"
  }

  /// The number of threads the engine uses by default: `GRAFT_THREADS` when set, else the processors available.
  public static var defaultThreadCount: Int { WorkerPool.defaultThreadCount }
}
