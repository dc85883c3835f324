extension GGUFQuantize {
  /// `ggml-quants.c::nearest_int`: round to nearest even through the float magic number 1.5·2²³ (valid for
  /// |x| < 2²²; larger values give what the C code gives, and are clamped by every caller).
  @inline(__always) static func nearestInt(_ x: Float) -> Int {
    let v = x + 12_582_912
    return Int(v.bitPattern & 0x007F_FFFF) - 0x0040_0000
  }

  /// `GROUP_MAX_EPS`: a group whose largest magnitude is below this quantizes to zero.
  static let groupMaxEpsilon: Float = 1e-15

  /// `make_qkx2_quants` for 32 values, `rdelta` 0.1 and squared error.
  ///
  /// Returns the scale and (negated) minimum of `x ≈ scale·L − min` minimising the weighted error, with `L` in
  /// `0…levelMax` written to `levels`. Q4_K passes `levelMax` 15, `rmin` −1, 20 steps; Q5_K 31, −0.5, 15 steps.
  static func scaleAndMin(
    _ x: UnsafePointer<Float>, _ weights: UnsafePointer<Float>, _ levels: UnsafeMutablePointer<UInt8>,
    _ scratch: UnsafeMutablePointer<UInt8>, levelMax: Int, rmin: Float, steps: Int
  ) -> (scale: Float, min: Float) {
    let n = 32
    let nmax = Float(levelMax)
    var min = x[0]
    var max = x[0]
    var sumW = weights[0]
    var sumX = sumW * x[0]
    for i in 1..<n {
      if x[i] < min { min = x[i] }
      if x[i] > max { max = x[i] }
      let w = weights[i]
      sumW += w
      sumX += w * x[i]
    }
    if min > 0 { min = 0 }
    if max == min {
      for i in 0..<n { levels[i] = 0 }
      return (0, -min)
    }
    var iscale = nmax / (max - min)
    var scale = 1 / iscale
    var bestError: Float = 0
    for i in 0..<n {
      let l = Swift.max(0, Swift.min(levelMax, nearestInt(iscale * (x[i] - min))))
      levels[i] = UInt8(l)
      let diff = scale * Float(l) + min - x[i]
      bestError += weights[i] * (diff * diff)
    }
    for step in 0...steps {
      iscale = (rmin + 0.1 * Float(step) + nmax) / (max - min)
      var sumL: Float = 0
      var sumL2: Float = 0
      var sumXL: Float = 0
      for i in 0..<n {
        let l = Swift.max(0, Swift.min(levelMax, nearestInt(iscale * (x[i] - min))))
        scratch[i] = UInt8(l)
        let w = weights[i]
        let fl = Float(l)
        sumL += w * fl
        sumL2 += w * fl * fl
        sumXL += w * fl * x[i]
      }
      let det = sumW * sumL2 - sumL * sumL
      guard det > 0 else { continue }
      var thisScale = (sumW * sumXL - sumX * sumL) / det
      var thisMin = (sumL2 * sumX - sumL * sumXL) / det
      if thisMin > 0 {
        thisMin = 0
        thisScale = sumXL / sumL2
      }
      var error: Float = 0
      for i in 0..<n {
        let diff = thisScale * Float(scratch[i]) + thisMin - x[i]
        error += weights[i] * (diff * diff)
      }
      if error < bestError {
        for i in 0..<n { levels[i] = scratch[i] }
        bestError = error
        scale = thisScale
        min = thisMin
      }
    }
    return (scale, -min)
  }

  /// `quantize_row_q4_K_ref` for one 256-value block: eight 32-value groups, each fitted by ``scaleAndMin``, their
  /// scales and minimums quantized to 6 bits against the block's f16 `d` and `dmin`, then every value re-quantized
  /// against its group's decoded scale.
  static func q4_K(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) { q45_K(x, y, fiveBit: false) }

  /// `quantize_row_q5_K_ref`: as Q4_K with 5-bit levels, the fifth bits in `qh`.
  static func q5_K(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) { q45_K(x, y, fiveBit: true) }

  static func q45_K(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, fiveBit: Bool) {
    let levelMax = fiveBit ? 31 : 15
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 48) { floats in
      withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256 + 32 + 12) { bytes in
        guard let f = floats.baseAddress, let b = bytes.baseAddress else { return }
        let weights = f
        let scales = f + 32
        let mins = f + 40
        let levels = b
        let scratch = b + 256
        let packed = b + 288
        var maxScale: Float = 0
        var maxMin: Float = 0
        for j in 0..<8 {
          let g = x + 32 * j
          var sumX2: Float = 0
          for l in 0..<32 { sumX2 += g[l] * g[l] }
          let average = (sumX2 / 32).squareRoot()
          for l in 0..<32 { weights[l] = average + abs(g[l]) }
          let fit = scaleAndMin(
            g, weights, levels + 32 * j, scratch, levelMax: levelMax, rmin: fiveBit ? -0.5 : -1,
            steps: fiveBit ? 15 : 20)
          scales[j] = fit.scale
          mins[j] = fit.min
          if fit.scale > maxScale { maxScale = fit.scale }
          if fit.min > maxMin { maxMin = fit.min }
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
          for i in 0..<32 {
            levels[32 * j + i] = UInt8(Swift.max(0, Swift.min(levelMax, nearestInt((x[32 * j + i] + dm) / d))))
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
