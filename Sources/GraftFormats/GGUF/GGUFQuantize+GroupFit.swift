extension GGUFQuantize {
  /// One value per 32-value group of a 256-value K-quant block: group `j` in lane `j`.
  typealias GroupLanes = SIMD8<Float>

  /// ``nearestInt(_:)`` per lane (the same bit trick, so the same result for every input), clamped to `0…levelMax`.
  @inline(__always) static func clampedNearest(_ x: GroupLanes, _ levelMax: SIMD8<Int32>) -> SIMD8<Int32> {
    let bits = unsafeBitCast(x + 12_582_912, to: SIMD8<Int32>.self)
    let l = (bits & 0x007F_FFFF) &- 0x0040_0000
    return l.replacing(with: levelMax, where: l .> levelMax).replacing(
      with: SIMD8<Int32>.zero, where: l .< SIMD8<Int32>.zero)
  }

  /// Small non-negative integers (below 2²²) as floats, exactly: their bits under the exponent of 1.5·2²³.
  @inline(__always) static func floats(_ l: SIMD8<Int32>) -> GroupLanes {
    unsafeBitCast(l | 0x4B40_0000, to: GroupLanes.self) - 12_582_912
  }

  /// `make_qkx2_quants` for the eight 32-value groups of the block at `x` at once (`rdelta` 0.1, squared error, the
  /// weights `quantize_row_q{4,5}_K_ref` give: `sqrt(Σx²/32) + |x|`).
  ///
  /// Group `j` runs in lane `j`, and each lane performs the C code's float operations in the C code's order over its
  /// group's values (nothing is reassociated), so every lane's result is bit-identical to the scalar reference. The
  /// C code's per-group branches (`max == min`, `D > 0`, `this_min > 0`, `mad < best_error`) become lane masks. A
  /// trial's levels are not kept: the best trial's `L` is recomputed at the end from the inverse scale and minimum it
  /// was computed from, which gives the same values.
  ///
  /// Returns each group's scale and minimum (not negated) of `x ≈ scale·L + min`; writes `L` in `0…levelMax` to
  /// `levels` (256 bytes, in value order). Q4_K passes `levelMax` 15, `rmin` −1, 20 steps; Q5_K 31, −0.5, 15.
  static func groupFits(
    _ x: UnsafePointer<Float>, _ levels: UnsafeMutablePointer<UInt8>, levelMax: Int32, rmin: Float, steps: Int
  ) -> (scale: GroupLanes, min: GroupLanes) {
    withUnsafeTemporaryAllocation(of: GroupLanes.self, capacity: 96) { buffer -> (GroupLanes, GroupLanes) in
      guard let xs = buffer.baseAddress else { return (.zero, .zero) }
      let ws = xs + 32
      let trialLevels = xs + 64
      let top = SIMD8<Int32>(repeating: levelMax)
      let nmax = Float(levelMax)
      var sumX2 = GroupLanes.zero
      for i in 0..<32 {
        let v = GroupLanes(
          x[i], x[32 + i], x[64 + i], x[96 + i], x[128 + i], x[160 + i], x[192 + i], x[224 + i])
        xs[i] = v
        sumX2 += v * v
      }
      let average = (sumX2 / 32).squareRoot()
      for i in 0..<32 {
        ws[i] = average + unsafeBitCast(unsafeBitCast(xs[i], to: SIMD8<UInt32>.self) & 0x7FFF_FFFF, to: GroupLanes.self)
      }
      var min = xs[0]
      var max = xs[0]
      var sumW = ws[0]
      var sumX = sumW * xs[0]
      for i in 1..<32 {
        let v = xs[i]
        min = min.replacing(with: v, where: v .< min)
        max = max.replacing(with: v, where: v .> max)
        let w = ws[i]
        sumW += w
        sumX += w * v
      }
      min = min.replacing(with: GroupLanes.zero, where: min .> GroupLanes.zero)
      let start = min
      let flat = max .== min
      var levelScale = nmax / (max - min)
      var levelOrigin = min
      var scale = 1 / levelScale
      var bestError = GroupLanes.zero
      for i in 0..<32 {
        let l = floats(clampedNearest(levelScale * (xs[i] - min), top))
        let diff = scale * l + min - xs[i]
        bestError += ws[i] * (diff * diff)
      }
      for step in 0...steps {
        let trial = (rmin + 0.1 * Float(step) + nmax) / (max - min)
        var sumL = GroupLanes.zero
        var sumL2 = GroupLanes.zero
        var sumXL = GroupLanes.zero
        for i in 0..<32 {
          let l = floats(clampedNearest(trial * (xs[i] - min), top))
          trialLevels[i] = l
          let wl = ws[i] * l
          sumL += wl
          sumL2 += wl * l
          sumXL += wl * xs[i]
        }
        let det = sumW * sumL2 - sumL * sumL
        let positive = det .> GroupLanes.zero
        guard any(positive) else { continue }
        var thisScale = (sumW * sumXL - sumX * sumL) / det
        var thisMin = (sumL2 * sumX - sumL * sumXL) / det
        let clampMin = thisMin .> GroupLanes.zero
        thisMin = thisMin.replacing(with: GroupLanes.zero, where: clampMin)
        thisScale = thisScale.replacing(with: sumXL / sumL2, where: clampMin)
        var error = GroupLanes.zero
        for i in 0..<32 {
          let diff = thisScale * trialLevels[i] + thisMin - xs[i]
          error += ws[i] * (diff * diff)
        }
        let better = positive .& (error .< bestError)
        guard any(better) else { continue }
        bestError = bestError.replacing(with: error, where: better)
        scale = scale.replacing(with: thisScale, where: better)
        levelScale = levelScale.replacing(with: trial, where: better)
        levelOrigin = levelOrigin.replacing(with: min, where: better)
        min = min.replacing(with: thisMin, where: better)
      }
      for i in 0..<32 {
        let l = clampedNearest(levelScale * (xs[i] - levelOrigin), top).replacing(with: 0, where: flat)
        for j in 0..<8 { levels[32 * j + i] = UInt8(truncatingIfNeeded: l[j]) }
      }
      return (scale.replacing(with: 0, where: flat), min.replacing(with: start, where: flat))
    }
  }
}
