// swift-tools-version: 6.2
//
// Graft: checkpoint conversion and model surgery.
//
// Module boundaries (who may import whom) are the architecture; keep them visible here.
//
//   GraftCore      dtypes, casts, tensors, mapped files, JSON, errors, atomic output. No C deps.
//   GraftFormats   safetensors, native .graft, PyTorch zip/pickle, NumPy.   -> GraftCore, CZlib
//   GraftHDF5      HDF5 / Keras over libhdf5 (trait "HDF5").                  -> GraftCore, CHDF5
//   GraftSurgery   passes: tensor table -> tensor table, no IO.               -> GraftCore
//   GraftEngine    CPU forward engine; knows nothing of files.                -> GraftCore, CTargetFeatures
//   GraftCheck     runs models before/after a surgery and compares them.      -> GraftEngine, GraftSurgery
//   Graft          umbrella library re-exporting the above.
//   graft          thin CLI (swift-argument-parser).
//   graft-bench    release-mode benchmark executable.
import PackageDescription

let strictSettings: [SwiftSetting] = [
  .enableUpcomingFeature("MemberImportVisibility"),
  .enableUpcomingFeature("InternalImportsByDefault"),
  .enableUpcomingFeature("ExistentialAny"),
]

// Developer convenience while several people work on one tree: `GRAFT_TEST_TARGETS=EngineTests,CoreTests swift test`
// builds only those test targets, so one half-finished module does not block everybody else's tests.
// Unset (CI, the README), every test target is built.
let allTestTargets: [(name: String, deps: [Target.Dependency])] = [
  ("GraftCoreTests", ["GraftCore", "TestSupport"]),
  ("SafeTensorsTests", ["GraftFormats", "TestSupport"]),
  ("NativeFormatTests", ["GraftFormats", "TestSupport"]),
  ("PyTorchTests", ["GraftFormats", "TestSupport"]),
  ("HDF5Tests", ["GraftHDF5", "GraftFormats", "TestSupport"]),
  ("EngineTests", ["GraftEngine", "GraftFormats", "TestSupport"]),
  ("SurgeryTests", ["GraftSurgery", "GraftCheck", "GraftFormats", "TestSupport"]),
  ("CLITests", ["Graft", "TestSupport"]),
]
let selectedTests: Set<String>? = Context.environment["GRAFT_TEST_TARGETS"].map {
  Set($0.split(separator: ",").map { $0.hasSuffix("Tests") ? String($0) : String($0) + "Tests" })
}
let testTargets: [Target] = allTestTargets
  .filter { selectedTests?.contains($0.name) ?? true }
  .map { .testTarget(name: $0.name, dependencies: $0.deps, swiftSettings: strictSettings) }

let package = Package(
  name: "Graft",
  products: [
    .library(name: "Graft", targets: ["Graft"]),
    .library(name: "GraftCore", targets: ["GraftCore"]),
    .library(name: "GraftFormats", targets: ["GraftFormats"]),
    .library(name: "GraftEngine", targets: ["GraftEngine"]),
    .library(name: "GraftSurgery", targets: ["GraftSurgery"]),
    .executable(name: "graft", targets: ["graft"]),
    .executable(name: "graft-bench", targets: ["graft-bench"]),
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

    // MARK: - Libraries (toolchain + libhdf5 + zlib only)
    .target(name: "GraftCore", swiftSettings: strictSettings),
    .target(name: "GraftFormats", dependencies: ["GraftCore", "CZlib"], swiftSettings: strictSettings),
    .target(
      name: "GraftHDF5",
      dependencies: ["GraftCore", .target(name: "CHDF5", condition: .when(traits: ["HDF5"]))],
      swiftSettings: strictSettings),
    .target(name: "GraftSurgery", dependencies: ["GraftCore"], swiftSettings: strictSettings),
    .target(name: "GraftEngine", dependencies: ["GraftCore", "CTargetFeatures"], swiftSettings: strictSettings),
    .target(
      name: "GraftCheck", dependencies: ["GraftCore", "GraftEngine", "GraftSurgery"], swiftSettings: strictSettings),
    .target(
      name: "Graft",
      dependencies: ["GraftCore", "GraftFormats", "GraftHDF5", "GraftSurgery", "GraftEngine", "GraftCheck"],
      swiftSettings: strictSettings),

    // MARK: - Executables
    .executableTarget(
      name: "graft",
      dependencies: ["Graft", .product(name: "ArgumentParser", package: "swift-argument-parser")],
      swiftSettings: strictSettings),
    .executableTarget(name: "graft-bench", dependencies: ["Graft"], swiftSettings: strictSettings),

    // MARK: - Test support and tests
    .target(name: "TestSupport", dependencies: ["GraftCore"], path: "Tests/TestSupport", swiftSettings: strictSettings),
  ] + testTargets,
  swiftLanguageModes: [.v6]
)
