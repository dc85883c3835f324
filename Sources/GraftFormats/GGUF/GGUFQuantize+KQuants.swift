extension GGUFQuantize {
  /// `ggml-quants.c::nearest_int`: round to nearest even through the float magic number 1.5·2²³ (valid for
  /// |x| < 2²²; larger values give what the C code gives, and are clamped by every caller).
  @inline(__always) static func nearestInt(_ x: Float) -> Int {
    let v = x + 12_582_912
    return Int(v.bitPattern & 0x007F_FFFF) - 0x0040_0000
  }

  /// `GROUP_MAX_EPS`: a group whose largest magnitude is below this quantizes to zero.
  static let groupMaxEpsilon: Float = 1e-15

  /// `quantize_row_q4_K_ref` for one 256-value block: eight 32-value groups, fitted together by ``groupFits(_:_:levelMax:rmin:steps:)``, their
  /// scales and minimums quantized to 6 bits against the block's f16 `d` and `dmin`, then every value re-quantized
  /// against its group's decoded scale.
  static func q4_K(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) { q45_K(x, y, fiveBit: false) }

  /// `quantize_row_q5_K_ref`: as Q4_K with 5-bit levels, the fifth bits in `qh`.
  static func q5_K(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) { q45_K(x, y, fiveBit: true) }

  static func q45_K(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, fiveBit: Bool) {
    let levelMax = fiveBit ? 31 : 15
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 16) { floats in
      withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256 + 12) { bytes in
        guard let f = floats.baseAddress, let b = bytes.baseAddress else { return }
        let scales = f
        let mins = f + 8
        let levels = b
        let packed = b + 256
        let fit = groupFits(
          x, levels, levelMax: Int32(levelMax), rmin: fiveBit ? -0.5 : -1, steps: fiveBit ? 15 : 20)
        var maxScale: Float = 0
        var maxMin: Float = 0
        for j in 0..<8 {
          scales[j] = fit.scale[j]
          mins[j] = -fit.min[j]
          if scales[j] > maxScale { maxScale = scales[j] }
          if mins[j] > maxMin { maxMin = mins[j] }
        }
        let inverseScale: Float = maxScale > 0 ? 63 / maxScale : 0
        let inverseMin: Float = maxMin > 0 ? 63 / maxMin : 0
        for k in 0..<12 { packed[k] = 0 }
        for j in 0..<8 {
          let ls = Swift.min(63, UInt8(truncatingIfNeeded: nearestInt(inverseScale * scales[j])))
          let lm = Swift.min(63, UInt8(truncatingIfNeeded: nearestInt(inverseMin * mins[j])))
          if j < 4 {
            packed[j] = ls
            packed[j + 4] = lm
          } else {
            packed[j + 4] = (ls & 0xF) | ((lm & 0xF) << 4)
            packed[j - 4] |= (ls >> 4) << 6
            packed[j] |= (lm >> 4) << 6
          }
        }
        let d16 = Float16(maxScale / 63)
        let dmin16 = Float16(maxMin / 63)
        store(d16.bitPattern, y, 0)
        store(dmin16.bitPattern, y, 2)
        for k in 0..<12 { y.storeBytes(of: packed[k], toByteOffset: 4 + k, as: UInt8.self) }
        for j in 0..<8 {
          let (sc, m) = GGUFDequantize.scaleMin(UnsafeRawPointer(packed), j)
          let d = Float(d16) * Float(sc)
          if d == 0 { continue }
          let dm = Float(dmin16) * Float(m)
          let top = SIMD8<Int32>(repeating: Int32(levelMax))
          for i in stride(from: 32 * j, to: 32 * j + 32, by: 8) {
            let v = UnsafeRawPointer(x + i).loadUnaligned(as: GroupLanes.self)
            let l = SIMD8<UInt8>(truncatingIfNeeded: clampedNearest((v + dm) / d, top))
            UnsafeMutableRawPointer(levels + i).storeBytes(of: l, as: SIMD8<UInt8>.self)
          }
        }
        // Q5_K: qh[l] holds the fifth bits, bit 2c for element 64c + l and bit 2c + 1 for 64c + 32 + l.
        let qs = fiveBit ? 48 : 16
        if fiveBit { for l in 0..<32 { y.storeBytes(of: 0, toByteOffset: 16 + l, as: UInt8.self) } }
        for c in 0..<4 {
          for l in 0..<32 {
            var low = levels[64 * c + l]
            var high = levels[64 * c + l + 32]
            if fiveBit {
              var bits = y.load(fromByteOffset: 16 + l, as: UInt8.self)
              if low > 15 {
                low -= 16
                bits |= 1 << UInt8(2 * c)
              }
              if high > 15 {
                high -= 16
                bits |= 2 << UInt8(2 * c)
              }
              y.storeBytes(of: bits, toByteOffset: 16 + l, as: UInt8.self)
            }
            y.storeBytes(of: low | high << 4, toByteOffset: qs + 32 * c + l, as: UInt8.self)
          }
        }
      }
    }
  }

  /// `make_qx_quants` for 16 values, `nmax` 32, `rmse_type` 1 (weights x²), no importance matrix: the scale of
  /// `x ≈ scale·(L − 32)`, searched over 19 candidate inverse scales, with `L` in `0…63` written to `levels`.
  static func symmetricScale(_ x: UnsafePointer<Float>, _ levels: UnsafeMutablePointer<UInt8>) -> Float {
    let n = 16
    let nmax = 32
    var max: Float = 0
    var amax: Float = 0
    for i in 0..<n where abs(x[i]) > amax {
      amax = abs(x[i])
      max = x[i]
    }
    if amax < groupMaxEpsilon {
      for i in 0..<n { levels[i] = 0 }
      return 0
    }
    func sums(_ iscale: Float, write: Bool) -> (Float, Float) {
      var sumLX: Float = 0
      var sumL2: Float = 0
      for i in 0..<n {
        let l = Swift.max(-nmax, Swift.min(nmax - 1, nearestInt(iscale * x[i])))
        if write { levels[i] = UInt8(l + nmax) }
        let w = x[i] * x[i]
        let fl = Float(l)
        sumLX += w * x[i] * fl
        sumL2 += w * fl * fl
      }
      return (sumLX, sumL2)
    }
    let (sumLX, sumL2) = sums(Float(-nmax) / max, write: true)
    var scale: Float = sumL2 != 0 ? sumLX / sumL2 : 0
    var best = scale * sumLX
    for step in -9...9 where step != 0 {
      let iscale = -(Float(nmax) + 0.1 * Float(step)) / max
      let (lx, l2) = sums(iscale, write: false)
      if l2 > 0 && lx * lx > best * l2 {
        _ = sums(iscale, write: true)
        scale = lx / l2
        best = scale * lx
      }
    }
    return scale
  }

  /// `quantize_row_q6_K_ref` for one 256-value block: sixteen 16-value groups fitted by ``symmetricScale``, their
  /// scales quantized to int8 against the block's f16 `d`, then every value re-quantized to 6 bits.
  static func q6_K(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 16) { scalesBuffer in
      withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256) { levelsBuffer in
        guard let scales = scalesBuffer.baseAddress, let levels = levelsBuffer.baseAddress else { return }
        var maxScale: Float = 0
        var maxAbsScale: Float = 0
        for g in 0..<16 {
          let scale = symmetricScale(x + 16 * g, levels + 16 * g)
          scales[g] = scale
          if abs(scale) > maxAbsScale {
            maxAbsScale = abs(scale)
            maxScale = scale
          }
        }
        if maxAbsScale < groupMaxEpsilon {
          for k in 0..<210 { y.storeBytes(of: 0, toByteOffset: k, as: UInt8.self) }
          return
        }
        let iscale = -128 / maxScale
        let d16 = Float16(1 / iscale)
        store(d16.bitPattern, y, 208)
        for g in 0..<16 {
          let q = Int8(truncatingIfNeeded: Swift.min(127, nearestInt(iscale * scales[g])))
          y.storeBytes(of: UInt8(bitPattern: q), toByteOffset: 192 + g, as: UInt8.self)
          let d = Float(d16) * Float(q)
          if d == 0 { continue }
          for i in 0..<16 {
            let l = Swift.max(-32, Swift.min(31, nearestInt(x[16 * g + i] / d)))
            levels[16 * g + i] = UInt8(l + 32)
          }
        }
        for h in 0..<2 {
          let L = levels + 128 * h
          for l in 0..<32 {
            let q1 = L[l] & 0xF
            let q2 = L[l + 32] & 0xF
            let q3 = L[l + 64] & 0xF
            let q4 = L[l + 96] & 0xF
            y.storeBytes(of: q1 | q3 << 4, toByteOffset: 64 * h + l, as: UInt8.self)
            y.storeBytes(of: q2 | q4 << 4, toByteOffset: 64 * h + l + 32, as: UInt8.self)
            let high = (L[l] >> 4) | (L[l + 32] >> 4) << 2 | (L[l + 64] >> 4) << 4 | (L[l + 96] >> 4) << 6
            y.storeBytes(of: high, toByteOffset: 128 + 32 * h + l, as: UInt8.self)
          }
        }
      }
    }
  }
}
