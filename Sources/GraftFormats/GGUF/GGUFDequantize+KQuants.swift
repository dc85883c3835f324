extension GGUFDequantize {
  /// `{u8 scales[16]; u8 qs[64]; f16 d; f16 dmin}`: element `128h + 32j + l` is bits `2j` of `qs[32h + l]`, in
  /// sub-block `8h + 2j + l/16`, `y = (d·(sc & 15))·q − dmin·(sc >> 4)`.
  static func q2_K(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    let d = half(p, 80)
    let dmin = half(p, 82)
    for s in 0..<16 {
      let sc = byte(p, s)
      let dl = d * Float(sc & 0xF)
      let ml = dmin * Float(sc >> 4)
      // Sub-block s = 8h + 2j + half: elements 128h + 32j + 16·half + i, bits 2j of qs[32h + 16·half + i].
      let h = s >> 3
      let j = (s >> 1) & 3
      let first = 32 * h + 16 * (s & 1)
      for i in 0..<16 {
        let q = (byte(p, 16 + first + i) >> UInt8(2 * j)) & 3
        y[16 * s + i] = dl * Float(q) - ml
      }
    }
  }

  /// `{u8 hmask[32]; u8 qs[64]; u8 scales[12]; f16 d}`: 6-bit signed scales, 2 low bits from `qs`, and 4 subtracted
  /// when the high-mask bit is clear.
  static func q3_K(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    let d = half(p, 108)
    for k in 0..<16 {
      let low = k < 8 ? byte(p, 96 + k) & 0xF : byte(p, 96 + k - 8) >> 4
      let high = (byte(p, 104 + k % 4) >> UInt8(2 * (k / 4))) & 3
      let dl = d * Float(Int(low | high << 4) - 32)
      // Sub-block k = 8h + 2j + half, as in Q2_K; the high-mask bit of element 128h + 32j + l is bit 4h + j of
      // hmask[l].
      let h = k >> 3
      let j = (k >> 1) & 3
      let first = 16 * (k & 1)
      for i in 0..<16 {
        let l = first + i
        let bits = Int((byte(p, 32 + 32 * h + l) >> UInt8(2 * j)) & 3)
        let mask = (byte(p, l) >> UInt8(4 * h + j)) & 1
        y[16 * k + i] = dl * Float(bits - (mask == 0 ? 4 : 0))
      }
    }
  }

  /// The 6-bit scale and minimum of sub-block `j` of a Q4_K/Q5_K block (`get_scale_min_k4`).
  @inline(__always) static func scaleMin(_ scales: UnsafeRawPointer, _ j: Int) -> (UInt8, UInt8) {
    if j < 4 { return (byte(scales, j) & 63, byte(scales, j + 4) & 63) }
    let sc = (byte(scales, j + 4) & 0xF) | ((byte(scales, j - 4) >> 6) << 4)
    let m = (byte(scales, j + 4) >> 4) | ((byte(scales, j) >> 6) << 4)
    return (sc, m)
  }

  /// Q4_K `{f16 d; f16 dmin; u8 scales[12]; u8 qs[128]}` and Q5_K (plus `u8 qh[32]` before `qs`): eight 32-element
  /// sub-blocks, `y = (d·sc)·q − dmin·m`.
  static func q45_K(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, hasHighBit: Bool) {
    let d = half(p, 0)
    let dmin = half(p, 2)
    let qs = hasHighBit ? 48 : 16
    for s in 0..<8 {
      let (sc, m) = scaleMin(p + 4, s)
      let ds = d * Float(sc)
      let dm = dmin * Float(m)
      let shift = UInt8(4 * (s & 1))
      for l in 0..<32 {
        var q = (byte(p, qs + 32 * (s >> 1) + l) >> shift) & 0xF
        if hasHighBit { q |= ((byte(p, 16 + l) >> UInt8(s)) & 1) << 4 }
        y[32 * s + l] = ds * Float(q) - dm
      }
    }
  }

  /// `{u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d}`: element `128h + 32k + l` has 4 low bits from
  /// `ql[64h + 32(k&1) + l] >> 4(k>>1)` and 2 high bits from `qh[32h + l] >> 2k`, minus 32, times `d·scale`.
  static func q6_K(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    let d = half(p, 208)
    for h in 0..<2 {
      for k in 0..<4 {
        for l in 0..<32 {
          let low = (byte(p, 64 * h + 32 * (k & 1) + l) >> UInt8(4 * (k >> 1))) & 0xF
          let high = (byte(p, 128 + 32 * h + l) >> UInt8(2 * k)) & 3
          let q = Int(low | high << 4) - 32
          let n = 128 * h + 32 * k + l
          let scale = Int8(bitPattern: byte(p, 192 + n / 16))
          y[n] = (d * Float(scale)) * Float(q)
        }
      }
    }
  }
}
