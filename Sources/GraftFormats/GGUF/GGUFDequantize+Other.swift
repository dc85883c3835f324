extension GGUFDequantize {
  /// IQ4_NL's 16 non-linear levels (`kvalues_iq4nl`).
  static let iq4Levels: [Int8] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]
  /// E2M1 values doubled (`kvalues_mxfp4`); the scale carries the matching ½.
  static let e2m1Doubled: [Int8] = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12]

  /// `{f16 d; u8 qs[16]}`: element j < 16 is the low nibble of `qs[j]`, j ≥ 16 the high nibble of `qs[j − 16]`.
  static func iq4_NL(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    let d = half(p, 0)
    for j in 0..<16 {
      let q = byte(p, 2 + j)
      y[j] = d * Float(iq4Levels[Int(q & 0xF)])
      y[j + 16] = d * Float(iq4Levels[Int(q >> 4)])
    }
  }

  /// `{f16 d; u16 scales_h; u8 scales_l[4]; u8 qs[128]}`: eight 32-element sub-blocks with 6-bit signed scales.
  static func iq4_XS(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    let d = half(p, 0)
    let high = u16(p, 2)
    for s in 0..<8 {
      let low = (byte(p, 4 + s / 2) >> UInt8(4 * (s & 1))) & 0xF
      let hi = UInt8(truncatingIfNeeded: high >> UInt16(2 * s)) & 3
      let dl = d * Float(Int(low | hi << 4) - 32)
      for l in 0..<16 {
        let q = byte(p, 8 + 16 * s + l)
        y[32 * s + l] = dl * Float(iq4Levels[Int(q & 0xF)])
        y[32 * s + 16 + l] = dl * Float(iq4Levels[Int(q >> 4)])
      }
    }
  }

  /// Powers of 3 that move trit k of a TQ1_0 byte to the top.
  static let tritPowers: [UInt8] = [1, 3, 9, 27, 81]

  /// `{u8 qs[48]; u8 qh[4]; f16 d}`: five trits per byte, extracted as `((b·3^k mod 256)·3) >> 8`, minus 1.
  static func tq1_0(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    let d = half(p, 52)
    @inline(__always) func trit(_ b: UInt8, _ k: Int) -> Float {
      let v = UInt16(b &* tritPowers[k])
      return Float(Int((v * 3) >> 8) - 1)
    }
    for k in 0..<5 {
      for l in 0..<32 { y[32 * k + l] = d * trit(byte(p, l), k) }
      for l in 0..<16 { y[160 + 16 * k + l] = d * trit(byte(p, 32 + l), k) }
    }
    for k in 0..<4 {
      for l in 0..<4 { y[240 + 4 * k + l] = d * trit(byte(p, 48 + l), k) }
    }
  }

  /// `{u8 qs[64]; f16 d}`: 2-bit values minus 1; element `128h + 32j + l` is bits `2j` of `qs[32h + l]`.
  static func tq2_0(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    let d = half(p, 64)
    for h in 0..<2 {
      for j in 0..<4 {
        for l in 0..<32 {
          let q = (byte(p, 32 * h + l) >> UInt8(2 * j)) & 3
          y[128 * h + 32 * j + l] = d * Float(Int(q) - 1)
        }
      }
    }
  }

  /// Half of an E8M0 scale as f32 (`ggml_e8m0_to_fp32_half`).
  @inline(__always) static func e8m0Half(_ e: UInt8) -> Float {
    Float(bitPattern: e < 2 ? UInt32(0x0020_0000) << UInt32(e) : UInt32(e - 1) << 23)
  }

  /// `{u8 e; u8 qs[16]}`: E2M1 nibbles, low nibbles first, times half the E8M0 scale.
  static func mxfp4(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    let d = e8m0Half(byte(p, 0))
    for j in 0..<16 {
      let q = byte(p, 1 + j)
      y[j] = d * Float(e2m1Doubled[Int(q & 0xF)])
      y[j + 16] = d * Float(e2m1Doubled[Int(q >> 4)])
    }
  }

  /// An unsigned E4M3 scale with the ½ of the doubled E2M1 table (gguf-py `NVFP4.ue4m3_to_fp32`); 0 and 0x7F decode
  /// to 0 and bit 7 is ignored.
  @inline(__always) static func ue4m3Half(_ x: UInt8) -> Float {
    if x == 0 || x == 0x7F { return 0 }
    let exponent = Int((x >> 3) & 0xF)
    let mantissa = Float(x & 7)
    let raw =
      exponent == 0
      ? mantissa * 0x1p-9 : (1 + mantissa / 8) * Float(sign: .plus, exponent: exponent - 7, significand: 1)
    return raw * 0.5
  }

  /// `{u8 d[4]; u8 qs[32]}`: four 16-element sub-blocks, each with an E4M3 scale; in sub-block s, element j < 8 is
  /// the low nibble of `qs[8s + j]`, j ≥ 8 the high nibble of `qs[8s + j − 8]`.
  static func nvfp4(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    for s in 0..<4 {
      let d = ue4m3Half(byte(p, s))
      for j in 0..<8 {
        let q = byte(p, 4 + 8 * s + j)
        y[16 * s + j] = d * Float(e2m1Doubled[Int(q & 0xF)])
        y[16 * s + 8 + j] = d * Float(e2m1Doubled[Int(q >> 4)])
      }
    }
  }
}
