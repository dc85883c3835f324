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
let testTargets: [Target] =
  allTestTargets
  .filter { selectedTests?.contains($0.name) ?? true }
  .map {
    .testTarget(
      name: $0.name, dependencies: $0.deps,
      // Crash inputs are read from the repository by path, not bundled.
      exclude: $0.name == "CLITests" ? ["Fuzz-regressions", "Fuzz-regressions-libhdf5"] : [],
      swiftSettings: strictSettings)
  }

// MARK: - Targets

let libraryDependencies: [String: [Target.Dependency]] = [
  "GraftCore": [],
  "GraftFormats": ["GraftCore", "CZlib"],
  "GraftHDF5": ["GraftCore", .target(name: "CHDF5", condition: .when(traits: ["HDF5"]))],
  "GraftSurgery": ["GraftCore"],
  "GraftEngine": ["GraftCore", "CTargetFeatures"],
  "GraftCheck": ["GraftCore", "GraftEngine", "GraftSurgery"],
  "Graft": ["GraftCore", "GraftFormats", "GraftHDF5", "GraftSurgery", "GraftEngine", "GraftCheck"],
  "TestSupport": ["GraftCore"],
]
let libraryOrder = [
  "GraftCore", "GraftFormats", "GraftHDF5", "GraftSurgery", "GraftEngine", "GraftCheck", "Graft", "TestSupport",
]

/// The library targets a set of test targets needs (all of them when no selection is active).
func neededLibraries() -> Set<String> {
  guard let selectedTests else { return Set(libraryOrder) }
  var needed = Set<String>()
  var stack = allTestTargets.filter { selectedTests.contains($0.name) }.flatMap { $0.deps.compactMap(\.targetName) }
  while let next = stack.popLast() {
    guard needed.insert(next).inserted else { continue }
    stack += (libraryDependencies[next] ?? []).compactMap(\.targetName)
  }
  return needed
}

extension Target.Dependency {
  var targetName: String? {
    switch self {
    case .targetItem(let name, _): return name
    case .byNameItem(let name, _): return name
    default: return nil
    }
  }
}

let needed = neededLibraries()
let libraryTargets: [Target] = libraryOrder.filter { needed.contains($0) }.map { name in
  name == "TestSupport"
    ? .target(
      name: name, dependencies: libraryDependencies[name] ?? [], path: "Tests/TestSupport",
      swiftSettings: strictSettings)
    : .target(name: name, dependencies: libraryDependencies[name] ?? [], swiftSettings: strictSettings)
}
let executableTargets: [Target] =
  selectedTests == nil
  ? [
    .executableTarget(
      name: "graft",
      dependencies: ["Graft", .product(name: "ArgumentParser", package: "swift-argument-parser")],
      swiftSettings: strictSettings),
    .executableTarget(name: "graft-bench", dependencies: ["Graft"], swiftSettings: strictSettings),
  ] : []
let products: [Product] =
  selectedTests == nil
  ? [
    .library(name: "Graft", targets: ["Graft"]),
    .library(name: "GraftCore", targets: ["GraftCore"]),
    .library(name: "GraftFormats", targets: ["GraftFormats"]),
    .library(name: "GraftEngine", targets: ["GraftEngine"]),
    .library(name: "GraftSurgery", targets: ["GraftSurgery"]),
    .executable(name: "graft", targets: ["graft"]),
    .executable(name: "graft-bench", targets: ["graft-bench"]),
  ] : []

let package = Package(
  name: "Graft",
  products: products,
  traits: [
    .trait(name: "HDF5", description: "Build the HDF5 / Keras reader and writer (needs libhdf5-dev)."),
    .default(enabledTraits: ["HDF5"]),
  ],
  dependencies: [
    // The CLI only; no library target depends on it.
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0")
  ],
  targets: [
    // C system libraries and shims.
    .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
    .systemLibrary(name: "CHDF5", pkgConfig: "hdf5", providers: [.apt(["libhdf5-dev"])]),
    // Header-only: turns the compiler's target macros (__FMA__, __F16C__, __AVX2__) into constants Swift can branch on.
    .target(name: "CTargetFeatures"),
  ] + libraryTargets + executableTargets + testTargets,
  swiftLanguageModes: [.v6]
)
