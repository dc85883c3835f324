// swift-tools-version: 6.2
//
// Graft: checkpoint conversion and model surgery.
//
// Module boundaries (who may import whom) are the architecture; ARCHITECTURE.md draws them. Each target lists the
// only modules it may import.
//
//   GraftCore      dtypes, casts, tensors, mapped files, JSON, errors, atomic output. No C dependency.
//   GraftFormats   safetensors, native .graft, PyTorch zip/pickle, NumPy, GGUF.     -> GraftCore, CZlib
//   GraftHDF5      HDF5 / Keras over libhdf5 (trait "HDF5").                           -> GraftCore, CHDF5
//   GraftSurgery   passes: tensor table -> tensor table, no IO.                        -> GraftCore
//   GraftEngine    CPU forward engine; knows nothing of files.               -> GraftCore, CTargetFeatures, CKernels
//   GraftCheck     runs models before/after a surgery and compares them.               -> GraftEngine, GraftSurgery
//   Graft          the library's front door: read/write any format, every workflow.    -> all of the above
//   GraftDemo      the embedded demo models and `graft demo` (not a product).          -> Graft
//   graft          the thin CLI (swift-argument-parser).                               -> Graft, GraftDemo
//   graft-bench    release-mode benchmarks (not a product; `swift run -c release graft-bench`).
import PackageDescription

#if !os(Linux)
  #error("Graft builds on Linux only: it maps files with Glibc's mmap and calls Linux system calls directly.")
#endif

let strictSettings: [SwiftSetting] = [
  .enableUpcomingFeature("MemberImportVisibility"),
  .enableUpcomingFeature("InternalImportsByDefault"),
  .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
  name: "Graft",
  products: [
    .library(name: "Graft", targets: ["Graft"]),
    .library(name: "GraftCore", targets: ["GraftCore"]),
    .library(name: "GraftFormats", targets: ["GraftFormats"]),
    .library(name: "GraftHDF5", targets: ["GraftHDF5"]),
    .library(name: "GraftSurgery", targets: ["GraftSurgery"]),
    .library(name: "GraftEngine", targets: ["GraftEngine"]),
    .library(name: "GraftCheck", targets: ["GraftCheck"]),
    .executable(name: "graft", targets: ["graft"]),
  ],
  traits: [
    .trait(name: "HDF5", description: "Build the HDF5 / Keras reader and writer (needs libhdf5-dev)."),
    .default(enabledTraits: ["HDF5"]),
  ],
  dependencies: [
    // The CLI only; no library target depends on it.
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0")
  ],
  targets: [
    // MARK: - C system libraries and shims

    .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
    .systemLibrary(name: "CHDF5", pkgConfig: "hdf5", providers: [.apt(["libhdf5-dev"])]),
    // Header-only: turns the compiler's target macros (__FMA__, __F16C__, __AVX2__) into constants Swift can branch on.
    .target(name: "CTargetFeatures"),
    // The engine's SGEMM and row kernels in C, once per instruction set (portable, AVX2, AVX-512) through per-function
    // `target` attributes, chosen by CPUID when the process starts: no unsafeFlags, and a flag-less build still runs
    // AVX-512 on a CPU that has it.
    .target(name: "CKernels"),

    // MARK: - Libraries

    .target(name: "GraftCore", swiftSettings: strictSettings),
    .target(name: "GraftFormats", dependencies: ["GraftCore", "CZlib"], swiftSettings: strictSettings),
    .target(
      name: "GraftHDF5",
      dependencies: ["GraftCore", .target(name: "CHDF5", condition: .when(traits: ["HDF5"]))],
      swiftSettings: strictSettings),
    .target(name: "GraftSurgery", dependencies: ["GraftCore"], swiftSettings: strictSettings),
    .target(
      name: "GraftEngine", dependencies: ["GraftCore", "CTargetFeatures", "CKernels"], swiftSettings: strictSettings),
    .target(
      name: "GraftCheck", dependencies: ["GraftCore", "GraftEngine", "GraftSurgery"], swiftSettings: strictSettings),
    .target(
      name: "Graft",
      dependencies: ["GraftCore", "GraftFormats", "GraftHDF5", "GraftSurgery", "GraftEngine", "GraftCheck"],
      swiftSettings: strictSettings),

    // MARK: - Demo, CLI, benchmarks

    .target(name: "GraftDemo", dependencies: ["Graft"], swiftSettings: strictSettings),
    .executableTarget(
      name: "graft",
      dependencies: ["Graft", "GraftDemo", .product(name: "ArgumentParser", package: "swift-argument-parser")],
      swiftSettings: strictSettings),
    .executableTarget(name: "graft-bench", dependencies: ["Graft"], swiftSettings: strictSettings),

    // MARK: - Tests (one target per module, plus hardening and the CLI)

    .target(name: "TestSupport", dependencies: ["GraftCore"], path: "Tests/TestSupport", swiftSettings: strictSettings),
    .testTarget(name: "GraftCoreTests", dependencies: ["GraftCore", "TestSupport"], swiftSettings: strictSettings),
    .testTarget(
      name: "GraftFormatsTests", dependencies: ["GraftFormats", "TestSupport"], swiftSettings: strictSettings),
    .testTarget(
      name: "GraftHDF5Tests", dependencies: ["GraftHDF5", "GraftFormats", "TestSupport"],
      swiftSettings: strictSettings),
    .testTarget(
      name: "GraftSurgeryTests",
      dependencies: ["GraftSurgery", "GraftEngine", "GraftFormats", "GraftDemo", "TestSupport"],
      swiftSettings: strictSettings),
    .testTarget(
      name: "GraftEngineTests", dependencies: ["GraftEngine", "GraftFormats", "TestSupport"],
      swiftSettings: strictSettings),
    .testTarget(
      name: "GraftCheckTests", dependencies: ["GraftCheck", "GraftFormats", "GraftDemo", "TestSupport"],
      swiftSettings: strictSettings),
    .testTarget(
      name: "GraftTests", dependencies: ["Graft", "GraftDemo", "TestSupport"], swiftSettings: strictSettings),
    // Crash, kill, disk-full, resource-cap and >4 GiB tests; the crash inputs live in Fuzz/Regressions.
    .testTarget(
      name: "HardeningTests", dependencies: ["Graft", "GraftDemo", "TestSupport"], swiftSettings: strictSettings),
    // The `graft` binary itself: exit statuses, output, one test per command.
    .testTarget(
      name: "graftTests", dependencies: ["Graft", "GraftDemo", "TestSupport"], swiftSettings: strictSettings),
  ],
  swiftLanguageModes: [.v6]
)
