// Kernels for the pairs that dominate checkpoint conversion (F32 ↔ BF16/F16, F64 ↔ F32).
//
// Each works on blocks of `block` elements in two passes. The first pass is a branch-free scalar loop that LLVM
// vectorises (it converts, stores, ORs "something unusual happened" bits into one flag word and keeps the error
// maxima as integer maxima of non-negative float bit patterns, which order like the floats). Only when a block's flag
// is set (NaN, infinity, overflow or flush to zero somewhere in it) does the second pass redo that block with the
// exact scalar code and the tally. Swift's SIMD comparison operators and `pointwiseMax` lower to per-lane loops through
// the stack (measured: 60× slower than memcpy), which is why these loops use plain integer arithmetic instead.

extension Cast {
  enum Kernels {
    /// Elements per block: small enough that a redone block stays in L1, large enough to amortise the flag test.
    static let block = 256

    /// The block loop every kernel shares.
    ///
    /// `fast` converts a block of `n` elements and returns its flag word and its error maxima (bit patterns of
    /// non-negative floats, which order like the floats); a block whose flag word has `flag` set is redone by
    /// `exact`, lane by lane, which also tallies it. Returns the maxima over the blocks that were not redone.
    @inline(__always)
    static func forEachBlock<Bits: FixedWidthInteger & UnsignedInteger>(
      _ src: UnsafeRawPointer, _ dst: UnsafeMutableRawPointer, count: Int, widths: (source: Int, target: Int),
      flag: Bits, tally: inout CastTally,
      fast: (_ s: UnsafeRawPointer, _ d: UnsafeMutableRawPointer, _ n: Int) -> (flags: Bits, abs: Bits, rel: Bits),
      exact: (_ s: UnsafeRawPointer, _ d: UnsafeMutableRawPointer, _ i: Int, _ tally: inout CastTally) -> Void
    ) -> (abs: Bits, rel: Bits) {
      var maxAbsBits: Bits = 0
      var maxRelBits: Bits = 0
      var start = 0
      while start < count {
        let n = Swift.min(block, count &- start)
        let s = src + start &* widths.source
        let d = dst + start &* widths.target
        let result = fast(s, d, n)
        if result.flags & flag != 0 {
          for i in 0..<n { exact(s, d, i, &tally) }
        } else {
          maxAbsBits = Swift.max(maxAbsBits, result.abs)
          maxRelBits = Swift.max(maxRelBits, result.rel)
        }
        start &+= n
      }
      return (maxAbsBits, maxRelBits)
    }

    // MARK: F32 → BF16 and F32 → F16

    static func float32ToBFloat16(
      _ src: UnsafeRawPointer, _ dst: UnsafeMutableRawPointer, count: Int, saturate: Bool, report: inout CastReport
    ) {
      float32ToHalfWidth(
        src, dst, count: count, target: .bfloat16, report: &report,
        narrow: { bits, _ in
          let rounded = (bits &+ 0x7FFF &+ ((bits &>> 16) & 1)) &>> 16
          return (UInt16(truncatingIfNeeded: rounded), (rounded & 0x7FFF) &<< 16)
        },
        exact: { s, d, i, tally in bfloat16Lane(s, d, i, saturate: saturate, tally: &tally) })
    }

    static func float32ToFloat16(
      _ src: UnsafeRawPointer, _ dst: UnsafeMutableRawPointer, count: Int, saturate: Bool, report: inout CastReport
    ) {
      float32ToHalfWidth(
        src, dst, count: count, target: .float16, report: &report,
        narrow: { bits, magnitude in
          // Converting the magnitude and restoring the sign keeps one conversion each way per element (F16C on
          // x86-64-v3).
          let h = Float16(Float(bitPattern: magnitude)).bitPattern
          return (h | UInt16(truncatingIfNeeded: (bits &>> 16) & 0x8000), Float(Float16(bitPattern: h)).bitPattern)
        },
        exact: { s, d, i, tally in halfLane(s, d, i, saturate: saturate, tally: &tally) })
    }

    /// F32 → the 16-bit float `target`: `narrow` maps float32 bits (and their magnitude) to the stored bits and the
    /// stored magnitude widened back to float32 bits.
    @inline(__always)
    static func float32ToHalfWidth(
      _ src: UnsafeRawPointer, _ dst: UnsafeMutableRawPointer, count: Int, target: DType, report: inout CastReport,
      narrow: (_ bits: UInt32, _ magnitude: UInt32) -> (stored: UInt16, widened: UInt32),
      exact: (_ s: UnsafeRawPointer, _ d: UnsafeMutableRawPointer, _ i: Int, _ tally: inout CastTally) -> Void
    ) {
      var tally = CastTally(target: target, relativeInFloat: true)
      let maxima = narrowing(Float.self, src, dst, count: count, tally: &tally, narrow: narrow, exact: exact)
      tally.record(maxAbs: Double(Float(bitPattern: maxima.abs)), maxRel: Double(Float(bitPattern: maxima.rel)))
      tally.flush(into: &report)
    }

    /// The block loop of a narrowing from `Wide` to a format stored as `Stored`.
    ///
    /// `narrow` maps `Wide`'s bits (and their magnitude) to the stored bits and the stored magnitude widened back to
    /// `Wide`'s bits. Returns the error maxima as bits of `Wide`.
    @inline(__always)
    static func narrowing<Wide: BitPatternFloat, Stored: FixedWidthInteger>(
      _: Wide.Type, _ src: UnsafeRawPointer, _ dst: UnsafeMutableRawPointer, count: Int, tally: inout CastTally,
      narrow: (_ bits: Wide.Bits, _ magnitude: Wide.Bits) -> (stored: Stored, widened: Wide.Bits),
      exact: (_ s: UnsafeRawPointer, _ d: UnsafeMutableRawPointer, _ i: Int, _ tally: inout CastTally) -> Void
    ) -> (abs: Wide.Bits, rel: Wide.Bits) {
      let (wideWidth, storedWidth) = (MemoryLayout<Wide.Bits>.size, MemoryLayout<Stored>.size)
      let signBit: Wide.Bits = 1 &<< (Wide.Bits.bitWidth &- 1)
      // Adding the exponent's lowest bit carries into the sign bit exactly when the exponent is all ones.
      let exponentOne: Wide.Bits = 1 &<< Wide.significandBitCount
      return forEachBlock(
        src, dst, count: count, widths: (wideWidth, storedWidth), flag: signBit, tally: &tally,
        fast: { s, d, n in
          var flags: Wide.Bits = 0
          var blockAbs: Wide.Bits = 0
          var blockRel: Wide.Bits = 0
          for i in 0..<n {
            let bits = s.loadUnaligned(fromByteOffset: i &* wideWidth, as: Wide.Bits.self)
            let magnitude = bits & ~signBit
            let (stored, widened) = narrow(bits, magnitude)
            d.storeBytes(of: stored, toByteOffset: i &* storedWidth, as: Stored.self)
            // The sign bit is set by: a NaN/inf source, an inf result (overflow) or a zero result from a nonzero
            // source.
            flags |= (magnitude &+ exponentOne) | (widened &+ exponentOne) | ((widened &- 1) & (0 &- magnitude))
            let error = Wide(bitPattern: widened) - Wide(bitPattern: magnitude)
            let absBits = error.bitPattern & ~signBit
            blockAbs = Swift.max(blockAbs, absBits)
            let relative = Wide(bitPattern: absBits) / Wide(bitPattern: Swift.max(magnitude, 1))
            blockRel = Swift.max(blockRel, relative.bitPattern)
          }
          return (flags, blockAbs, blockRel)
        },
        exact: exact)
    }

    @inline(__always)
    static func bfloat16Lane(
      _ src: UnsafeRawPointer, _ dst: UnsafeMutableRawPointer, _ i: Int, saturate: Bool, tally: inout CastTally
    ) {
      let x = Float(bitPattern: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))
      let b = ElementCodec.bfloat16Bits(x, nan: 0xFFFF, saturate: saturate)
      dst.storeBytes(of: b, toByteOffset: 2 * i, as: UInt16.self)
      tally.add(source: Double(x), rounded: Double(x), result: Double(Float(bitPattern: UInt32(b) &<< 16)))
    }

    @inline(__always)
    static func halfLane(
      _ src: UnsafeRawPointer, _ dst: UnsafeMutableRawPointer, _ i: Int, saturate: Bool, tally: inout CastTally
    ) {
      let x = Float(bitPattern: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))
      let h = ElementCodec.halfBits(x, saturate: saturate)
      dst.storeBytes(of: h, toByteOffset: 2 * i, as: UInt16.self)
      tally.add(source: Double(x), rounded: Double(x), result: Double(ElementCodec.float(fromHalfBits: h)))
    }

    // MARK: BF16 → F32 and F16 → F32 (exact; only special values to count)

    static func bfloat16ToFloat32(
      _ src: UnsafeRawPointer, _ dst: UnsafeMutableRawPointer, count: Int, report: inout CastReport
    ) {
      var tally = CastTally(target: .float32)
      widen(
        src, dst, count: count, flag: 0x8000, tally: &tally,
        convert: { (b: UInt16) in (UInt32(b) &<< 16, (UInt32(b) & 0x7F80) &+ 0x80) },
        exact: { s, _, i, tally in
          countLane(Float(bitPattern: UInt32(s.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) &<< 16), &tally)
        })
      tally.flush(into: &report)
    }

    static func float16ToFloat32(
      _ src: UnsafeRawPointer, _ dst: UnsafeMutableRawPointer, count: Int, report: inout CastReport
    ) {
      var tally = CastTally(target: .float32)
      widen(
        src, dst, count: count, flag: 0x8000, tally: &tally,
        convert: { (h: UInt16) in (Float(Float16(bitPattern: h)), (UInt32(h) & 0x7C00) &+ 0x400) },
        exact: { s, d, i, tally in
          // Redo the block exactly: NaNs get torch's quiet bits whatever the platform's conversion does.
          let x = ElementCodec.float(fromHalfBits: s.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
          d.storeBytes(of: x.bitPattern, toByteOffset: 4 * i, as: UInt32.self)
          countLane(x, &tally)
        })
      tally.flush(into: &report)
    }

    /// An exact widening: `convert` maps source bits to the target value and flag bits (`flag` set for a NaN or an
    /// infinity, whose blocks `exact` redoes and tallies).
    @inline(__always)
    static func widen<Source: FixedWidthInteger, Target>(
      _ src: UnsafeRawPointer, _ dst: UnsafeMutableRawPointer, count: Int, flag: UInt32, tally: inout CastTally,
      convert: (Source) -> (value: Target, flags: UInt32),
      exact: (_ s: UnsafeRawPointer, _ d: UnsafeMutableRawPointer, _ i: Int, _ tally: inout CastTally) -> Void
    ) {
      let (sourceWidth, targetWidth) = (MemoryLayout<Source>.size, MemoryLayout<Target>.size)
      _ = forEachBlock(
        src, dst, count: count, widths: (sourceWidth, targetWidth), flag: flag, tally: &tally,
        fast: { s, d, n in
          var flags: UInt32 = 0
          for i in 0..<n {
            let (value, f) = convert(s.loadUnaligned(fromByteOffset: i &* sourceWidth, as: Source.self))
            d.storeBytes(of: value, toByteOffset: i &* targetWidth, as: Target.self)
            flags |= f
          }
          return (flags, 0, 0)
        },
        exact: exact)
    }

    @inline(__always)
    static func countLane(_ x: Float, _ tally: inout CastTally) {
      if !x.isFinite { tally.add(source: Double(x), rounded: Double(x), result: Double(x)) }
    }

    // MARK: F64 → F32

    static func float64ToFloat32(
      _ src: UnsafeRawPointer, _ dst: UnsafeMutableRawPointer, count: Int, saturate: Bool, report: inout CastReport
    ) {
      var tally = CastTally(target: .float32)
      let maxima = narrowing(
        Double.self, src, dst, count: count, tally: &tally,
        narrow: { bits, magnitude in
          let f = Float(Double(bitPattern: magnitude))
          return (f.bitPattern | UInt32(truncatingIfNeeded: (bits &>> 32) & 0x8000_0000), Double(f).bitPattern)
        },
        exact: { s, d, i, tally in float64Lane(s, d, i, saturate: saturate, tally: &tally) })
      tally.record(maxAbs: Double(bitPattern: maxima.abs), maxRel: Double(bitPattern: maxima.rel))
      tally.flush(into: &report)
    }

    @inline(__always)
    static func float64Lane(
      _ src: UnsafeRawPointer, _ dst: UnsafeMutableRawPointer, _ i: Int, saturate: Bool, tally: inout CastTally
    ) {
      let x = Double(bitPattern: src.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))
      var f = Float(x)
      if saturate && f.isInfinite && x.isFinite { f = x < 0 ? -.greatestFiniteMagnitude : .greatestFiniteMagnitude }
      dst.storeBytes(of: f.bitPattern, toByteOffset: 4 * i, as: UInt32.self)
      tally.add(source: x, rounded: x, result: Double(f))
    }

    // MARK: F32 → F64 (exact; NaNs quieted as cvtss2sd does)

    static func float32ToFloat64(
      _ src: UnsafeRawPointer, _ dst: UnsafeMutableRawPointer, count: Int, report: inout CastReport
    ) {
      var tally = CastTally(target: .float64)
      widen(
        src, dst, count: count, flag: 0x8000_0000, tally: &tally,
        convert: { (bits: UInt32) in (Double(Float(bitPattern: bits)), (bits & 0x7FFF_FFFF) &+ 0x80_0000) },
        exact: { s, d, i, tally in
          let x = ElementCodec.double(
            widening: Float(bitPattern: s.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
          d.storeBytes(of: x.bitPattern, toByteOffset: 8 * i, as: UInt64.self)
          if !x.isFinite { tally.add(source: x, rounded: x, result: x) }
        })
      tally.flush(into: &report)
    }
  }
}

/// A binary float whose bit pattern the kernels work on (Float, Double).
protocol BitPatternFloat: BinaryFloatingPoint {
  /// The unsigned integer of the same width.
  associatedtype Bits: FixedWidthInteger & UnsignedInteger
  /// The raw bits.
  var bitPattern: Bits { get }
  /// Creates a value from raw bits.
  init(bitPattern: Bits)
}

extension Float: BitPatternFloat {}
extension Double: BitPatternFloat {}
