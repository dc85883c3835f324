#if _endian(big)
  #error("Graft reads and writes little-endian element bytes in place; big-endian hosts are not supported")
#endif

/// Element-by-element decoders and encoders between raw little-endian bytes and `Float`/`Double`/integer bits.
///
/// These are the slow, exact paths every pair can use; ``Cast`` routes the hot pairs through SIMD kernels instead.
/// Sub-byte F4 pointers address element 0 in the low nibble of the first byte.
enum ElementCodec {
  // MARK: Float (torch's float32 intermediate)

  /// Decodes `count` elements into the exact `Float` bits PyTorch's CPU copy kernel produces.
  ///
  /// F64 rounds to nearest even (`cvtsd2ss`, NaN payloads kept and quieted); F16 NaNs are quieted (torch uses F16C);
  /// integers round to nearest even directly from 64 bits.
  static func decodeFloat(_ src: UnsafeRawPointer, _ dtype: DType, count: Int, into dst: UnsafeMutablePointer<Float>) {
    switch dtype {
    case .float32:
      for i in 0..<count { dst[i] = Float(bitPattern: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)) }
    case .float64:
      for i in 0..<count {
        dst[i] = Float(Double(bitPattern: src.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))
      }
    case .float16:
      for i in 0..<count { dst[i] = float(fromHalfBits: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
    case .bfloat16:
      for i in 0..<count {
        dst[i] = Float(bitPattern: UInt32(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) &<< 16)
      }
    case .float8E4M3: decodeFloat8(Float8E4M3FN.self, src, count: count, into: dst)
    case .float8E5M2: decodeFloat8(Float8E5M2.self, src, count: count, into: dst)
    case .float8E4M3FNUZ: decodeFloat8(Float8E4M3FNUZ.self, src, count: count, into: dst)
    case .float8E5M2FNUZ: decodeFloat8(Float8E5M2FNUZ.self, src, count: count, into: dst)
    case .float8E8M0: decodeFloat8(Float8E8M0FNU.self, src, count: count, into: dst)
    case .float4E2M1:
      for i in 0..<count {
        let byte = src.load(fromByteOffset: i >> 1, as: UInt8.self)
        dst[i] = Float(Float4E2M1(bitPattern: i & 1 == 0 ? byte : byte >> 4))
      }
    case .bool:
      for i in 0..<count { dst[i] = src.load(fromByteOffset: i, as: UInt8.self) != 0 ? 1 : 0 }
    case .int8: decodeIntegers(Int8.self, src, count: count, into: dst)
    case .uint8: decodeIntegers(UInt8.self, src, count: count, into: dst)
    case .int16: decodeIntegers(Int16.self, src, count: count, into: dst)
    case .uint16: decodeIntegers(UInt16.self, src, count: count, into: dst)
    case .int32: decodeIntegers(Int32.self, src, count: count, into: dst)
    case .uint32: decodeIntegers(UInt32.self, src, count: count, into: dst)
    case .int64: decodeIntegers(Int64.self, src, count: count, into: dst)
    case .uint64: decodeIntegers(UInt64.self, src, count: count, into: dst)
    case .float6E2M3, .float6E3M2, .complex64, .complex128:
      preconditionFailure("decodeFloat(\(dtype)) is filtered out by Cast.isSupported")
    }
  }

  /// Decodes `count` elements exactly into `Double` (integers above 2⁵³ round to nearest even).
  ///
  /// Float NaNs are widened the way `cvtss2sd` does it (quieted, payload kept), which is what torch produces.
  static func decodeDouble(_ src: UnsafeRawPointer, _ dtype: DType, count: Int, into dst: UnsafeMutablePointer<Double>)
  {
    switch dtype {
    case .float64:
      for i in 0..<count { dst[i] = Double(bitPattern: src.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)) }
    case .int64: decodeIntegers(Int64.self, src, count: count, into: dst)
    case .uint64: decodeIntegers(UInt64.self, src, count: count, into: dst)
    case .int32: decodeIntegers(Int32.self, src, count: count, into: dst)
    case .uint32: decodeIntegers(UInt32.self, src, count: count, into: dst)
    default:
      // Every other type is exact in Float; widen through a small stack buffer.
      withUnsafeTemporaryAllocation(of: Float.self, capacity: Cast.genericChunk) { buffer in
        guard let floats = buffer.baseAddress else { return }
        Cast.forEachChunk(count: count) { done, n in
          let offset = dtype == .float4E2M1 ? done / 2 : done * (dtype.byteWidth ?? 1)
          decodeFloat(src + offset, dtype, count: n, into: floats)
          for i in 0..<n { dst[done + i] = double(widening: floats[i]) }
        }
      }
    }
  }

  /// Integers of type `I` converted to `F`, rounding to nearest even where `F` cannot hold them.
  @inline(__always)
  static func decodeIntegers<I: FixedWidthInteger, F: BinaryFloatingPoint>(
    _: I.Type, _ src: UnsafeRawPointer, count: Int, into dst: UnsafeMutablePointer<F>
  ) {
    for i in 0..<count { dst[i] = F(src.loadUnaligned(fromByteOffset: i &* MemoryLayout<I>.size, as: I.self)) }
  }

  @inline(__always)
  static func decodeFloat8<T: Float8Storage>(
    _: T.Type, _ src: UnsafeRawPointer, count: Int, into dst: UnsafeMutablePointer<Float>
  ) {
    for i in 0..<count { dst[i] = Float(T(bitPattern: src.load(fromByteOffset: i, as: UInt8.self))) }
  }

  @inline(__always)
  static func encodeFloat8<T: Float8Storage>(
    _: T.Type, _ src: UnsafePointer<Float>, count: Int, saturate: Bool, into dst: UnsafeMutableRawPointer
  ) {
    for i in 0..<count {
      let v = saturate ? T(saturating: src[i]) : T(src[i])
      dst.storeBytes(of: v.bitPattern, toByteOffset: i, as: UInt8.self)
    }
  }

  /// Encodes `count` floats into `dtype` (F32, F16, BF16, fp8 or F4) with torch's rounding and NaN rules.
  ///
  /// `bfloat16NaN` is the bits a NaN becomes in BF16: `0xFFFF` for torch's vectorised F32/F64 path, `0x7FC0` for
  /// the scalar path every other source type takes.
  static func encodeFloat(
    _ src: UnsafePointer<Float>, count: Int, to dtype: DType, saturate: Bool, bfloat16NaN: UInt16,
    into dst: UnsafeMutableRawPointer
  ) {
    switch dtype {
    case .float32:
      for i in 0..<count { dst.storeBytes(of: src[i].bitPattern, toByteOffset: 4 * i, as: UInt32.self) }
    case .float16:
      for i in 0..<count {
        dst.storeBytes(of: halfBits(src[i], saturate: saturate), toByteOffset: 2 * i, as: UInt16.self)
      }
    case .bfloat16:
      for i in 0..<count {
        let bits = bfloat16Bits(src[i], nan: bfloat16NaN, saturate: saturate)
        dst.storeBytes(of: bits, toByteOffset: 2 * i, as: UInt16.self)
      }
    case .float8E4M3: encodeFloat8(Float8E4M3FN.self, src, count: count, saturate: saturate, into: dst)
    case .float8E5M2: encodeFloat8(Float8E5M2.self, src, count: count, saturate: saturate, into: dst)
    case .float8E4M3FNUZ: encodeFloat8(Float8E4M3FNUZ.self, src, count: count, saturate: saturate, into: dst)
    case .float8E5M2FNUZ: encodeFloat8(Float8E5M2FNUZ.self, src, count: count, saturate: saturate, into: dst)
    case .float8E8M0: encodeFloat8(Float8E8M0FNU.self, src, count: count, saturate: saturate, into: dst)
    case .float4E2M1:
      var i = 0
      while i + 1 < count {
        let byte = Float4E2M1(src[i]).bitPattern | Float4E2M1(src[i + 1]).bitPattern << 4
        dst.storeBytes(of: byte, toByteOffset: i >> 1, as: UInt8.self)
        i += 2
      }
      // An odd tail fills the low nibble and clears the high one.
      if i < count { dst.storeBytes(of: Float4E2M1(src[i]).bitPattern, toByteOffset: i >> 1, as: UInt8.self) }
    default:
      preconditionFailure("encodeFloat(\(dtype)) is only used for float32-domain targets")
    }
  }

  // MARK: Scalar helpers shared with the SIMD kernels' slow lanes

  /// F16 → F32, exact; NaNs are quieted as F16C's `vcvtph2ps` does (torch's bulk path).
  @inline(__always)
  static func float(fromHalfBits h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exponent = UInt32(h >> 10) & 0x1F
    let mantissa = UInt32(h & 0x3FF)
    if exponent == 0x1F {
      return Float(bitPattern: sign | 0x7F80_0000 | (mantissa == 0 ? 0 : 0x40_0000 | mantissa << 13))
    }
    if exponent == 0 {
      // Subnormal: mantissa · 2⁻²⁴, exact.
      let magnitude = Float(mantissa) * 0x1p-24
      return Float(bitPattern: sign | magnitude.bitPattern)
    }
    return Float(bitPattern: sign | (exponent + 112) << 23 | mantissa << 13)
  }

  /// F32 → F16, round to nearest even; a NaN keeps its sign and top payload bits and is quieted (`vcvtps2ph`).
  @inline(__always)
  static func halfBits(_ x: Float, saturate: Bool) -> UInt16 {
    let bits = x.bitPattern
    let sign = UInt16(truncatingIfNeeded: bits >> 16) & 0x8000
    if x.isNaN { return sign | 0x7E00 | UInt16(truncatingIfNeeded: (bits & 0x7F_FFFF) >> 13) }
    let h = Float16(x).bitPattern
    if saturate && h & 0x7FFF == 0x7C00 && x.isFinite { return sign | 0x7BFF }
    return h
  }

  /// F32 → BF16, round to nearest even, with the caller's NaN bits.
  @inline(__always)
  static func bfloat16Bits(_ x: Float, nan: UInt16, saturate: Bool) -> UInt16 {
    let b = BFloat16.roundedBits(x, nan: nan)
    if x.isNaN { return b }
    if saturate && b & 0x7FFF == 0x7F80 && x.isFinite { return (b & 0x8000) | 0x7F7F }
    return b
  }

  /// F32 → F64 as `cvtss2sd`: exact, NaNs quieted with their payload kept.
  @inline(__always)
  static func double(widening x: Float) -> Double {
    guard x.isNaN else { return Double(x) }
    let bits = x.bitPattern
    let sign = UInt64(bits & 0x8000_0000) << 32
    return Double(bitPattern: sign | 0x7FF8_0000_0000_0000 | UInt64(bits & 0x7F_FFFF) << 29)
  }

  // MARK: Integer and bool targets

  /// Encodes doubles into an integer type, truncating toward zero and saturating out-of-range values (NaN → 0), or
  /// into bool (`x != 0`, so NaN is true, as in torch).
  static func encodeTruncating(
    _ src: UnsafePointer<Double>, count: Int, to dtype: DType, into dst: UnsafeMutableRawPointer
  ) {
    if dtype == .bool {
      for i in 0..<count { dst.storeBytes(of: src[i] != 0 ? 1 : 0, toByteOffset: i, as: UInt8.self) }
      return
    }
    guard case .integer(let lower, let upper) = OverflowLimit.of(dtype), let width = dtype.byteWidth else {
      preconditionFailure("encodeTruncating(\(dtype)) needs an integer target")
    }
    for i in 0..<count {
      let x = src[i]
      var bits: UInt64
      if x.isNaN {
        bits = 0
      } else {
        let t = x.rounded(.towardZero)
        if t < lower {
          bits = lower == 0 ? 0 : UInt64(bitPattern: Int64(lower))
        } else if t >= upper {
          let shift = 64 - 8 * width
          bits = lower == 0 ? UInt64.max >> shift : UInt64(Int64.max >> shift)
        } else if t < 0 {
          bits = UInt64(bitPattern: Int64(t))
        } else {
          bits = UInt64(t)
        }
      }
      storeInteger(bits, width: width, into: dst, at: i)
    }
  }

  /// Reads integer or bool elements as 64-bit two's-complement bits (signed types sign-extended).
  static func decodeIntegerBits(
    _ src: UnsafeRawPointer, _ dtype: DType, count: Int, into dst: UnsafeMutablePointer<UInt64>
  ) {
    for i in 0..<count {
      switch dtype {
      case .bool: dst[i] = src.load(fromByteOffset: i, as: UInt8.self) != 0 ? 1 : 0
      case .int8: dst[i] = UInt64(bitPattern: Int64(src.load(fromByteOffset: i, as: Int8.self)))
      case .uint8: dst[i] = UInt64(src.load(fromByteOffset: i, as: UInt8.self))
      case .int16: dst[i] = UInt64(bitPattern: Int64(src.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self)))
      case .uint16: dst[i] = UInt64(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
      case .int32: dst[i] = UInt64(bitPattern: Int64(src.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)))
      case .uint32: dst[i] = UInt64(src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))
      case .int64, .uint64: dst[i] = src.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)
      default: preconditionFailure("decodeIntegerBits(\(dtype)) needs an integer source")
      }
    }
  }

  /// Stores the low `width` bytes of `bits` (C's wrapping integer conversion, as torch's `static_cast`).
  @inline(__always)
  static func storeInteger(_ bits: UInt64, width: Int, into dst: UnsafeMutableRawPointer, at i: Int) {
    switch width {
    case 1: dst.storeBytes(of: UInt8(truncatingIfNeeded: bits), toByteOffset: i, as: UInt8.self)
    case 2: dst.storeBytes(of: UInt16(truncatingIfNeeded: bits), toByteOffset: 2 * i, as: UInt16.self)
    case 4: dst.storeBytes(of: UInt32(truncatingIfNeeded: bits), toByteOffset: 4 * i, as: UInt32.self)
    default: dst.storeBytes(of: bits, toByteOffset: 8 * i, as: UInt64.self)
    }
  }
}
