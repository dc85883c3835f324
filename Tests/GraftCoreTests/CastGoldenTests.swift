import GraftCore
import TestSupport
import Testing

/// One source vector of the torch golden set and its casts.
struct GoldenCase {
  var name: String
  var source: DType
  var count: Int
  var input: [UInt8]
  var outputs: [(dtype: DType, bytes: [UInt8])]
}

/// Loads `Fixtures/casts/casts.json` + `casts.bin` (written by scripts/fixtures/casts.py from torch 2.15).
func loadGoldenCases() throws -> [GoldenCase] {
  let manifestBytes = try FileSystem.readAll(TestPaths.fixture("casts/casts.json"))
  let manifest = try JSONParser.parse(String(decoding: manifestBytes, as: UTF8.self))
  let blob = try FileSystem.readAll(TestPaths.fixture("casts/casts.bin"))
  func slice(_ range: JSONValue?) throws -> [UInt8] {
    let offset = try #require(range?["offset"]?.intValue)
    let count = try #require(range?["bytes"]?.intValue)
    return Array(blob[offset..<(offset + count)])
  }
  var cases: [GoldenCase] = []
  for entry in try #require(manifest["cases"]?.arrayValue) {
    let source = try #require(entry["source"]?.stringValue.flatMap(DType.init(rawValue:)))
    var outputs: [(DType, [UInt8])] = []
    for output in try #require(entry["outputs"]?.arrayValue) {
      let dtype = try #require(output["dtype"]?.stringValue.flatMap(DType.init(rawValue:)))
      outputs.append((dtype, try slice(output)))
    }
    cases.append(
      GoldenCase(
        name: try #require(entry["name"]?.stringValue), source: source,
        count: try #require(entry["count"]?.intValue), input: try slice(entry["input"]), outputs: outputs))
  }
  return cases
}

/// Converts with `Cast.convert`, from a buffer shifted by `misalign` bytes so unaligned loads get exercised.
func castBytes(
  _ input: [UInt8], from: DType, to: DType, count: Int, options: CastOptions = CastOptions(), misalign: Int = 0,
  report: inout CastReport
) throws -> [UInt8] {
  let outBytes = (count * to.bitWidth + 7) / 8
  let shifted = [UInt8](repeating: 0xAA, count: misalign) + input
  var out = [UInt8](repeating: 0x55, count: outBytes + misalign)
  try shifted.withUnsafeBytes { src in
    try out.withUnsafeMutableBytes { dst in
      try Cast.convert(
        UnsafeRawBufferPointer(rebasing: src[misalign...]), from: from,
        into: UnsafeMutableRawBufferPointer(rebasing: dst[misalign...]), to: to, count: count, options: options,
        report: &report)
    }
  }
  return Array(out[misalign...])
}

/// The first element where two encodings differ, rendered for a failure message.
func firstDifference(_ got: [UInt8], _ expected: [UInt8], input: [UInt8], from: DType, to: DType) -> String {
  guard got.count == expected.count else { return "sizes differ: \(got.count) vs \(expected.count)" }
  guard let byte = got.indices.first(where: { got[$0] != expected[$0] }) else { return "equal" }
  func hex(_ bytes: ArraySlice<UInt8>) -> String {
    "0x" + bytes.reversed().map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
  }
  if to == .float4E2M1 || from == .float4E2M1 {
    return "byte \(byte): got \(hex(got[byte...byte])), expected \(hex(expected[byte...byte]))"
  }
  let outWidth = to.bitWidth / 8
  let inWidth = from.bitWidth / 8
  let element = byte / outWidth
  let o = element * outWidth
  let i = element * inWidth
  return "element \(element): input \(hex(input[i..<(i + inWidth)])) got \(hex(got[o..<(o + outWidth)])), "
    + "expected \(hex(expected[o..<(o + outWidth)]))"
}

@Suite("Cast goldens (torch 2.15 Tensor.to)")
struct CastGoldenTests {
  @Test("every golden pair is bit-identical, aligned and misaligned")
  func bitIdentical() throws {
    let cases = try loadGoldenCases()
    #expect(cases.count > 80)
    var pairs = 0
    for golden in cases {
      for (dtype, expected) in golden.outputs {
        for misalign in [0, 3] {
          var report = CastReport()
          let got = try castBytes(
            golden.input, from: golden.source, to: dtype, count: golden.count, misalign: misalign, report: &report)
          let same = got == expected
          #expect(
            same,
            "\(golden.name): \(golden.source) → \(dtype) (misalign \(misalign)): \(firstDifference(got, expected, input: golden.input, from: golden.source, to: dtype))"
          )
          #expect(report.elementCount == golden.count)
        }
        pairs += 1
      }
    }
    #expect(pairs > 300)
  }

  @Test("decodeToFloat / decodeToDouble agree with the golden F32 and F64 outputs")
  func decoders() throws {
    for golden in try loadGoldenCases() where golden.source.isNumeric {
      for (dtype, expected) in golden.outputs where dtype == .float32 || dtype == .float64 {
        if dtype == .float32 {
          var floats = [Float](repeating: 0, count: golden.count)
          try golden.input.withUnsafeBytes { src in
            try floats.withUnsafeMutableBufferPointer {
              try ElementDecoding.decodeToFloat(src, dtype: golden.source, into: $0)
            }
          }
          let bits = floats.withUnsafeBytes { Array($0) }
          let same = bits == expected
          #expect(same, "\(golden.name): decodeToFloat")
        } else {
          var doubles = [Double](repeating: 0, count: golden.count)
          try golden.input.withUnsafeBytes { src in
            try doubles.withUnsafeMutableBufferPointer {
              try ElementDecoding.decodeToDouble(src, dtype: golden.source, into: $0)
            }
          }
          let bits = doubles.withUnsafeBytes { Array($0) }
          let same = bits == expected
          #expect(same, "\(golden.name): decodeToDouble")
        }
      }
    }
  }
}
