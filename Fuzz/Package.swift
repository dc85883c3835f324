// swift-tools-version: 6.2
//
// libFuzzer harnesses for Graft's parsers, kept out of the main package (like swift-nio's Benchmarks package) so the
// main build never needs the fuzzer runtime. Build (see scripts/hardening/fuzz.sh):
//
//   swift build -c release --scratch-path ../.build-fuzz -Xswiftc -sanitize=fuzzer,address
//
// Each `fuzz-*` executable is a `main.swift` that hands its test function to `LLVMFuzzerRunDriver`.
import PackageDescription

let harnesses = ["safetensors", "graft", "zip", "pickle", "numpy", "sharded", "hdf5", "json", "gguf"]

let package = Package(
  name: "GraftFuzz",
  dependencies: [.package(name: "Graft", path: "..")],
  targets: [
    .target(name: "FuzzSupport", dependencies: [.product(name: "Graft", package: "Graft")])
  ]
    + harnesses.map { name in
      .executableTarget(
        name: "fuzz-\(name)",
        dependencies: ["FuzzSupport", .product(name: "Graft", package: "Graft")],
        path: "Sources/fuzz-\(name)",
        // gold crashes (internal error in format_file_lineno) on these ASan + libFuzzer links; lld does not.
        linkerSettings: [.unsafeFlags(["-use-ld=lld"])])
    },
  swiftLanguageModes: [.v6]
)
