// SIMD kernels for the pairs that dominate checkpoint conversion. Each processes 8 lanes at a time with integer bit
// tricks (or the F16C conversions LLVM emits for Float16 on x86-64-v3) and checks the lanes for anything that is not
// an ordinary rounding: NaN, infinity, overflow or flush to zero. Blocks without such lanes only update two SIMD
// maxima for the error statistics; the rare block with one goes through the exact scalar path and the tally. So the
// report costs a few vector instructions per 8 elements and the loops stay memory-bound.

extension Cast {
  enum Kernels {
    typealias Lanes32 = SIMD8<UInt32>

    // MARK: F32 → BF16

    static func float32ToBFloat16(
      _ src: UnsafeRawPointer, _ dst: UnsafeMutableRawPointer, count: Int, saturate: Bool, report: inout CastReport
    ) {
      var tally = CastTally(target: .bfloat16)
      var maxAbs = SIMD8<Float>(repeating: 0)
      var maxRel = SIMD8<Double>(repeating: 0)
      let tiny = SIMD8<Float>(repeating: .leastNonzeroMagnitude)
      var i = 0
      while i + 8 <= count {
        let bits = src.loadUnaligned(fromByteOffset: 4 * i, as: Lanes32.self)
        let rounded = (bits &+ 0x7FFF &+ ((bits &>> 16) & 1)) &>> 16
        let magnitude = bits & 0x7FFF_FFFF
        let special =
          (magnitude .>= 0x7F80_0000) .| ((rounded & 0x7F80) .== 0x7F80)
          .| (((rounded & 0x7FFF) .== 0) .& (magnitude .!= 0))
        if any(special) {
          for lane in i..<(i + 8) { bfloat16Lane(src, dst, lane, saturate: saturate, tally: &tally) }
        } else {
          dst.storeBytes(of: SIMD8<UInt16>(truncatingIfNeeded: rounded), toByteOffset: 2 * i, as: SIMD8<UInt16>.self)
          let x = unsafeBitCast(magnitude, to: SIMD8<Float>.self)
          let r = unsafeBitCast((rounded & 0x7FFF) &<< 16, to: SIMD8<Float>.self)
          let error = unsafeBitCast(unsafeBitCast(r - x, to: Lanes32.self) & 0x7FFF_FFFF, to: SIMD8<Float>.self)
          maxAbs = pointwiseMax(maxAbs, error)
          maxRel = pointwiseMax(maxRel, SIMD8<Double>(error) / SIMD8<Double>(pointwiseMax(x, tiny)))
        }
        i += 8
      }
      while i < count {
        bfloat16Lane(src, dst, i, saturate: saturate, tally: &tally)
        i += 1
      }
      tally.maxAbs = Swift.max(tally.maxAbs, Double(maxAbs.max()))
      tally.maxRel = Swift.max(tally.maxRel, maxRel.max())
      tally.flush(into: &report)
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

    // MARK: F32 → F16

    static func float32ToFloat16(
      _ src: UnsafeRawPointer, _ dst: UnsafeMutableRawPointer, count: Int, saturate: Bool, report: inout CastReport
    ) {
      var tally = CastTally(target: .float16)
      var maxAbs = SIMD8<Float>(repeating: 0)
      var maxRel = SIMD8<Double>(repeating: 0)
      let tiny = SIMD8<Float>(repeating: .leastNonzeroMagnitude)
      var i = 0
      while i + 8 <= count {
        let x = src.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
        let magnitude = unsafeBitCast(x, to: Lanes32.self) & 0x7FFF_FFFF
        let h = SIMD8<Float16>(x)
        let halfMagnitude = Lanes32(truncatingIfNeeded: unsafeBitCast(h, to: SIMD8<UInt16>.self)) & 0x7FFF
        let special =
          (magnitude .>= 0x7F80_0000) .| (halfMagnitude .>= 0x7C00) .| ((halfMagnitude .== 0) .& (magnitude .!= 0))
        if any(special) {
          for lane in i..<(i + 8) { halfLane(src, dst, lane, saturate: saturate, tally: &tally) }
        } else {
          dst.storeBytes(of: h, toByteOffset: 2 * i, as: SIMD8<Float16>.self)
          let ax = unsafeBitCast(magnitude, to: SIMD8<Float>.self)
          let r = unsafeBitCast(unsafeBitCast(SIMD8<Float>(h), to: Lanes32.self) & 0x7FFF_FFFF, to: SIMD8<Float>.self)
          let error = unsafeBitCast(unsafeBitCast(r - ax, to: Lanes32.self) & 0x7FFF_FFFF, to: SIMD8<Float>.self)
          maxAbs = pointwiseMax(maxAbs, error)
          maxRel = pointwiseMax(maxRel, SIMD8<Double>(error) / SIMD8<Double>(pointwiseMax(ax, tiny)))
        }
        i += 8
      }
      while i < count {
        halfLane(src, dst, i, saturate: saturate, tally: &tally)
        i += 1
      }
      tally.maxAbs = Swift.max(tally.maxAbs, Double(maxAbs.max()))
      tally.maxRel = Swift.max(tally.maxRel, maxRel.max())
      tally.flush(into: &report)
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
      var i = 0
      while i + 8 <= count {
        let b = Lanes32(truncatingIfNeeded: src.loadUnaligned(fromByteOffset: 2 * i, as: SIMD8<UInt16>.self))
        dst.storeBytes(of: b &<< 16, toByteOffset: 4 * i, as: Lanes32.self)
        if any((b & 0x7F80) .== 0x7F80) {
          for lane in i..<(i + 8) {
            countLane(Float(bitPattern: dst.loadUnaligned(fromByteOffset: 4 * lane, as: UInt32.self)), &tally)
          }
        }
        i += 8
      }
      while i < count {
        let x = Float(bitPattern: UInt32(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) &<< 16)
        dst.storeBytes(of: x.bitPattern, toByteOffset: 4 * i, as: UInt32.self)
        countLane(x, &tally)
        i += 1
      }
      tally.flush(into: &report)
    }

    static func float16ToFloat32(
      _ src: UnsafeRawPointer, _ dst: UnsafeMutableRawPointer, count: Int, report: inout CastReport
    ) {
      var tally = CastTally(target: .float32)
      var i = 0
      while i + 8 <= count {
        let h = src.loadUnaligned(fromByteOffset: 2 * i, as: SIMD8<UInt16>.self)
        if any((h & 0x7C00) .== 0x7C00) {
          for lane in i..<(i + 8) { float16Lane(src, dst, lane, &tally) }
        } else {
          dst.storeBytes(
            of: SIMD8<Float>(unsafeBitCast(h, to: SIMD8<Float16>.self)), toByteOffset: 4 * i, as: SIMD8<Float>.self)
        }
        i += 8
      }
      while i < count {
        float16Lane(src, dst, i, &tally)
        i += 1
      }
      tally.flush(into: &report)
    }

    @inline(__always)
    static func float16Lane(_ src: UnsafeRawPointer, _ dst: UnsafeMutableRawPointer, _ i: Int, _ tally: inout CastTally)
    {
      let x = ElementCodec.float(fromHalfBits: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
      dst.storeBytes(of: x.bitPattern, toByteOffset: 4 * i, as: UInt32.self)
      countLane(x, &tally)
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
      var maxAbs = SIMD4<Double>(repeating: 0)
      var maxRel = SIMD4<Double>(repeating: 0)
      let tiny = SIMD4<Double>(repeating: .leastNonzeroMagnitude)
      var i = 0
      while i + 4 <= count {
        let x = src.loadUnaligned(fromByteOffset: 8 * i, as: SIMD4<Double>.self)
        let f = SIMD4<Float>(x)
        let magnitude = unsafeBitCast(x, to: SIMD4<UInt64>.self) & 0x7FFF_FFFF_FFFF_FFFF
        let narrowMagnitude = SIMD4<UInt64>(truncatingIfNeeded: unsafeBitCast(f, to: SIMD4<UInt32>.self) & 0x7FFF_FFFF)
        let special =
          (magnitude .>= 0x7FF0_0000_0000_0000) .| (narrowMagnitude .>= 0x7F80_0000)
          .| ((narrowMagnitude .== 0) .& (magnitude .!= 0))
        if any(special) {
          for lane in i..<(i + 4) { float64Lane(src, dst, lane, saturate: saturate, tally: &tally) }
        } else {
          dst.storeBytes(of: f, toByteOffset: 4 * i, as: SIMD4<Float>.self)
          let ax = unsafeBitCast(magnitude, to: SIMD4<Double>.self)
          let back = SIMD4<Double>(f)
          let r = unsafeBitCast(
            unsafeBitCast(back, to: SIMD4<UInt64>.self) & 0x7FFF_FFFF_FFFF_FFFF, to: SIMD4<Double>.self)
          let diff = unsafeBitCast(r - ax, to: SIMD4<UInt64>.self) & 0x7FFF_FFFF_FFFF_FFFF
          let error = unsafeBitCast(diff, to: SIMD4<Double>.self)
          maxAbs = pointwiseMax(maxAbs, error)
          maxRel = pointwiseMax(maxRel, error / pointwiseMax(ax, tiny))
        }
        i += 4
      }
      while i < count {
        float64Lane(src, dst, i, saturate: saturate, tally: &tally)
        i += 1
      }
      tally.maxAbs = Swift.max(tally.maxAbs, maxAbs.max())
      tally.maxRel = Swift.max(tally.maxRel, maxRel.max())
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
      var i = 0
      while i + 4 <= count {
        let x = src.loadUnaligned(fromByteOffset: 4 * i, as: SIMD4<Float>.self)
        if any((unsafeBitCast(x, to: SIMD4<UInt32>.self) & 0x7F80_0000) .== 0x7F80_0000) {
          for lane in i..<(i + 4) { float32Lane(src, dst, lane, &tally) }
        } else {
          dst.storeBytes(of: SIMD4<Double>(x), toByteOffset: 8 * i, as: SIMD4<Double>.self)
        }
        i += 4
      }
      while i < count {
        float32Lane(src, dst, i, &tally)
        i += 1
      }
      tally.flush(into: &report)
    }

    @inline(__always)
    static func float32Lane(_ src: UnsafeRawPointer, _ dst: UnsafeMutableRawPointer, _ i: Int, _ tally: inout CastTally)
    {
      let x = ElementCodec.double(
        widening: Float(bitPattern: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
      dst.storeBytes(of: x.bitPattern, toByteOffset: 8 * i, as: UInt64.self)
      if !x.isFinite { tally.add(source: x, rounded: x, result: x) }
    }
  }
}
