import GraftCore
import TestSupport
import Testing

/// Raw little-endian bytes of an array of bit-copyable values.
func bytes<T: BitwiseCopyable>(_ values: [T]) -> [UInt8] { values.withUnsafeBytes { Array($0) } }

/// Values of type `T` read back from raw bytes.
func values<T: BitwiseCopyable>(_ raw: [UInt8], as _: T.Type) -> [T] {
  raw.withUnsafeBytes { buffer in
    (0..<(raw.count / MemoryLayout<T>.size)).map {
      buffer.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self)
    }
  }
}

/// Casts floats and returns the result bytes and the report.
func cast(_ input: [Float], to: DType, saturate: Bool = false) throws -> ([UInt8], CastReport) {
  var report = CastReport()
  let out = try castBytes(
    bytes(input), from: .float32, to: to, count: input.count, options: CastOptions(saturate: saturate), report: &report)
  return (out, report)
}

@Suite("Cast reports")
struct CastReportTests {
  /// One of each kind of event, F32 → F16.
  static let events: [Float] = [1, 1 + 0x1p-11, 65520, -1e6, .nan, .infinity, -.infinity, 1e-8, 0, -0.0]

  @Test("F32 → F16 counts every kind of event", arguments: [0, 5, 61])
  func float16Counts(padding: Int) throws {
    // Padding with exact values moves the events between the SIMD blocks and the scalar tail.
    let input = [Float](repeating: 0.5, count: padding) + Self.events
    let (out, report) = try cast(input, to: .float16)
    let halves = values(out, as: UInt16.self).suffix(Self.events.count)
    #expect(Array(halves) == [0x3C00, 0x3C00, 0x7C00, 0xFC00, 0x7E00, 0x7C00, 0xFC00, 0, 0, 0x8000])
    #expect(report.elementCount == input.count)
    #expect(report.nanCount == 1)
    #expect(report.positiveInfinityCount == 2)
    #expect(report.negativeInfinityCount == 2)
    #expect(report.overflowCount == 2)
    #expect(report.flushedToZeroCount == 1)
    #expect(report.maxAbsError == 0x1p-11)
    #expect(report.maxRelError == 1)  // the flushed 1e-8 lost everything
    #expect(!report.isExact)
    #expect(report.summary.contains("1 NaN"))
    #expect(report.summary.contains("2 overflowed"))
  }

  @Test("fast SIMD blocks report the rounding error of ordinary values")
  func fastPathErrors() throws {
    var input = [Float](repeating: 1.5, count: 64)
    input[21] = 1 + 0x1p-9 + 0x1p-12  // BF16 keeps 7 mantissa bits: error 2^-9 + 2^-12 rounded down
    input[40] = -(1 + 0x1p-11)  // F16 tie, rounds to even (down), error 2^-11
    let (_, bf16) = try cast(input, to: .bfloat16)
    #expect(bf16.maxAbsError == 0x1p-9 + 0x1p-12)
    #expect(abs(bf16.maxRelError - (0x1p-9 + 0x1p-12) / (1 + 0x1p-9 + 0x1p-12)) < 1e-9)
    #expect(bf16.overflowCount == 0 && bf16.nanCount == 0 && bf16.flushedToZeroCount == 0)
    let (_, f16) = try cast(input, to: .float16)
    #expect(f16.maxAbsError == 0x1p-11)  // the tie; 1 + 2^-9 + 2^-12 only loses 2^-12 in F16
  }

  @Test("exact casts say so")
  func exact() throws {
    let (_, report) = try cast([1, 2, -0.5, 0, 65504, 0x1p-24], to: .float16)
    #expect(report.isExact)
    #expect(report.summary == "6 elements, exact")
    var widened = CastReport()
    _ = try castBytes(
      bytes([UInt16](arrayLiteral: 0x3C00, 0x7C00, 0xFE00)), from: .float16, to: .float32, count: 3, report: &widened)
    #expect(widened.positiveInfinityCount == 1 && widened.nanCount == 1 && widened.maxAbsError == 0)
  }

  @Test("merge adds counts and keeps the larger errors")
  func merge() {
    var a = CastReport()
    a.elementCount = 3
    a.nanCount = 1
    a.maxAbsError = 0.5
    a.maxRelError = 0.01
    var b = CastReport()
    b.elementCount = 4
    b.overflowCount = 2
    b.maxAbsError = 0.25
    b.maxRelError = 0.1
    a.merge(b)
    #expect(a.elementCount == 7 && a.nanCount == 1 && a.overflowCount == 2)
    #expect(a.maxAbsError == 0.5 && a.maxRelError == 0.1)
    #expect(a.summary == "7 elements: 1 NaN, 2 overflowed, max abs err 5.000e-1, max rel err 1.000e-1")
  }

  @Test("saturation clamps finite overflow and keeps infinities where the target has them")
  func saturation() throws {
    let input: [Float] = [65520, -1e6, .infinity, .nan, 1]
    let (f16, r16) = try cast(input, to: .float16, saturate: true)
    #expect(values(f16, as: UInt16.self) == [0x7BFF, 0xFBFF, 0x7C00, 0x7E00, 0x3C00])
    #expect(r16.overflowCount == 2)
    let (e5m2, _) = try cast(input, to: .float8E5M2, saturate: true)
    #expect(e5m2 == [0x7B, 0xFB, 0x7C, 0x7F, 0x3C])
    let (e5m2Torch, _) = try cast(input, to: .float8E5M2)
    #expect(e5m2Torch == [0x7C, 0xFC, 0x7C, 0x7F, 0x3C])
    let (fnuz, fnuzReport) = try cast([300, -300, -.infinity, .nan, 1], to: .float8E4M3FNUZ, saturate: true)
    #expect(fnuz == [0x7F, 0xFF, 0xFF, 0x80, 0x40])
    #expect(fnuzReport.overflowCount == 2 && fnuzReport.negativeInfinityCount == 1 && fnuzReport.nanCount == 1)
    let (fnuzTorch, fnuzTorchReport) = try cast([300, -300], to: .float8E4M3FNUZ)
    #expect(fnuzTorch == [0x80, 0x80])
    #expect(fnuzTorchReport.nanCount == 2 && fnuzTorchReport.overflowCount == 2)
    let (bf16, _) = try cast([.greatestFiniteMagnitude, -.greatestFiniteMagnitude], to: .bfloat16, saturate: true)
    #expect(values(bf16, as: UInt16.self) == [0x7F7F, 0xFF7F])
    let (e8m0, _) = try cast([0x1.Cp127, 1], to: .float8E8M0, saturate: true)
    #expect(e8m0 == [0xFE, 0x7F])
    let (e8m0Torch, _) = try cast([0x1.Cp127, 1], to: .float8E8M0)
    #expect(e8m0Torch == [0xFF, 0x7F])
    // torch saturates e4m3fn by itself; saturation changes nothing there, and both count the overflow.
    let (e4m3, e4m3Report) = try cast([500, -1e9, .infinity, 464, 465], to: .float8E4M3)
    #expect(e4m3 == [0x7E, 0xFE, 0x7E, 0x7E, 0x7E])
    #expect(e4m3Report.overflowCount == 3 && e4m3Report.positiveInfinityCount == 1)
  }

  @Test("F64 → F32 overflow and saturation")
  func float64() throws {
    var report = CastReport()
    let input = bytes([1e300, -1e300, 1.0, 1e-300])
    let out = try castBytes(input, from: .float64, to: .float32, count: 4, report: &report)
    #expect(values(out, as: Float.self) == [.infinity, -.infinity, 1, 0])
    #expect(report.overflowCount == 2 && report.flushedToZeroCount == 1)
    var saturated = CastReport()
    let clamped = try castBytes(
      input, from: .float64, to: .float32, count: 4, options: CastOptions(saturate: true), report: &saturated)
    #expect(values(clamped, as: Float.self) == [.greatestFiniteMagnitude, -.greatestFiniteMagnitude, 1, 0])
    #expect(saturated.overflowCount == 2)
  }

  @Test("F4 rounds to nearest even, saturates to ±6 and packs low nibble first")
  func float4() throws {
    let input: [Float] = [0.25, 0.26, 0.75, 1.25, 2.5, 3.5, 5, 5.5, 6.5, 7, -100, .nan, -.nan, .infinity, -0.1]
    let (out, report) = try cast(input, to: .float4E2M1)
    let nibbles = out.flatMap { [$0 & 0xF, $0 >> 4] }.prefix(input.count)
    #expect(Array(nibbles) == [0, 1, 2, 2, 4, 6, 6, 7, 7, 7, 0xF, 0, 8, 7, 8])
    #expect(out.last.map { $0 >> 4 } == 0)  // odd count: the spare high nibble is zero
    #expect(report.overflowCount == 2)  // 7 and -100; 6.5 rounds to 6 normally
    #expect(report.nanCount == 2 && report.positiveInfinityCount == 1)
    #expect(report.flushedToZeroCount == 2)  // 0.25 and -0.1
  }

  @Test("float → integer truncates and saturates; integer → integer wraps")
  func integers() throws {
    let (i8, report) = try cast([300, -300, .nan, 1.9, -1.9, .infinity], to: .int8)
    #expect(values(i8, as: Int8.self) == [127, -128, 0, 1, -1, 127])
    #expect(report.overflowCount == 2 && report.nanCount == 1 && report.positiveInfinityCount == 1)
    #expect(report.maxAbsError == 0.8999999761581421)
    let (u64, _) = try cast([0x1p63, 0x1p64, -1], to: .uint64)
    #expect(values(u64, as: UInt64.self) == [1 << 63, .max, 0])
    let (flags, _) = try cast([0, -0.0, .nan, 0.5], to: .bool)
    #expect(flags == [0, 0, 1, 1])
    var wrap = CastReport()
    let wrapped = try castBytes(
      bytes([Int32](arrayLiteral: 300, -1, 127)), from: .int32, to: .int8, count: 3, report: &wrap)
    #expect(values(wrapped, as: Int8.self) == [44, -1, 127])
    #expect(wrap.overflowCount == 1)
    var unsigned = CastReport()
    let u8 = try castBytes(
      bytes([Int64](arrayLiteral: -1, 255, 256)), from: .int64, to: .uint8, count: 3, report: &unsigned)
    #expect(u8 == [255, 255, 0])
    #expect(unsigned.overflowCount == 2)
  }

  @Test("bad arguments throw with the sizes involved")
  func errors() throws {
    var report = CastReport()
    #expect(!Cast.isSupported(from: .float6E2M3, to: .float32))
    #expect(Cast.isSupported(from: .complex64, to: .complex64))
    #expect(Cast.isSupported(from: .bool, to: .float8E8M0))
    do {
      _ = try castBytes([0, 0, 0], from: .float32, to: .float16, count: 1, report: &report)
      Issue.record("a 3-byte F32 source was accepted")
    } catch let error as GraftError {
      #expect(error.code == .invalidArgument)
      #expect(error.message.contains("3 bytes"))
    }
    do {
      _ = try castBytes([0], from: .float6E2M3, to: .float32, count: 1, report: &report)
      Issue.record("F6 → F32 was accepted")
    } catch let error as GraftError {
      #expect(error.code == .unsupportedDType)
    }
    let empty = try castBytes([], from: .float32, to: .bfloat16, count: 0, report: &report)
    #expect(empty.isEmpty && report.elementCount == 0)
  }

  @Test("storage types round like torch")
  func storageTypes() {
    #expect(BFloat16(1.00390625).bitPattern == 0x3F80)
    #expect(BFloat16(1.01171875).bitPattern == 0x3F82)
    #expect(BFloat16(65504).bitPattern == 0x4780)
    #expect(BFloat16(Float.nan).bitPattern == 0x7FC0)
    #expect(BFloat16(bulkCastOf: -Float.nan).bitPattern == 0xFFFF)
    #expect(BFloat16(1e-40).bitPattern == 0x0001)
    #expect(Float(BFloat16(bitPattern: 0x3F80)) == 1)
    #expect(Float8E4M3FN(448).bitPattern == 0x7E && Float8E4M3FN(-0.001953125).bitPattern == 0x81)
    #expect(Float(Float8E4M3FN(bitPattern: 0x01)) == 0x1p-9)
    #expect(Float8E5M2(57344).bitPattern == 0x7B && Float8E5M2(61440).bitPattern == 0x7C)
    #expect(Float8E5M2(saturating: 61440).bitPattern == 0x7B)
    #expect(Float(Float8E4M3FNUZ(bitPattern: 0x7F)) == 240 && Float(Float8E5M2FNUZ(bitPattern: 0x7F)) == 57344)
    #expect(Float(Float8E8M0FNU(bitPattern: 0)) == 0x1p-127 && Float8E8M0FNU(1.5).bitPattern == 128)
    #expect(Float4E2M1(-6).bitPattern == 0xF && Float(Float4E2M1(bitPattern: 0xB)) == -1.5)
  }
}
