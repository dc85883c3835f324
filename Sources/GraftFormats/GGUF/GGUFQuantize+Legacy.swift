extension GGUFQuantize {
  /// The 0…`levels` integer gguf-py computes as `trunc(v + offset)` clipped, with `v` already rounded to f32.
  @inline(__always) static func truncatedLevel(_ v: Float, _ offset: Float, _ levels: Int) -> UInt8 {
    let shifted = v + offset
    return UInt8(Swift.min(levels, Swift.max(0, Int(shifted.rounded(.towardZero)))))
  }

  /// Q4_0/Q5_0's header: `d` = the signed value of largest magnitude (the first one wins, as numpy's `argmax`)
  /// over `divisor`, stored as f16; returns `1/d` (0 when `d` is 0).
  @inline(__always) static func signedMaxHeader(
    _ x: UnsafePointer<Float>, divisor: Float, _ y: UnsafeMutableRawPointer
  ) -> Float {
    var amax = abs(x[0])
    var max = x[0]
    for j in 1..<32 where abs(x[j]) > amax {
      amax = abs(x[j])
      max = x[j]
    }
    let d = max / divisor
    store(Float16(d).bitPattern, y, 0)
    return d == 0 ? 0 : 1 / d
  }

  /// Q4_1/Q5_1's header: `d = (max − min)/levels` and `m = min`, stored as f16; returns `min` and `1/d` (0 when `d`
  /// is 0).
  @inline(__always) static func minMaxHeader(
    _ x: UnsafePointer<Float>, levels: Float, _ y: UnsafeMutableRawPointer
  ) -> (min: Float, inverse: Float) {
    var lo = x[0]
    var hi = x[0]
    for j in 1..<32 {
      lo = Swift.min(lo, x[j])
      hi = Swift.max(hi, x[j])
    }
    let d = (hi - lo) / levels
    store(Float16(d).bitPattern, y, 0)
    store(Float16(lo).bitPattern, y, 2)
    return (lo, d == 0 ? 0 : 1 / d)
  }

  /// Stores 32 four-bit levels as `qs`: the low nibble of byte j is level j, the high nibble level j + 16.
  @inline(__always) static func pack4(_ levels: (Int) -> UInt8, _ y: UnsafeMutableRawPointer, at offset: Int) {
    for j in 0..<16 { y.storeBytes(of: levels(j) | levels(j + 16) << 4, toByteOffset: offset + j, as: UInt8.self) }
  }

  /// Stores 32 five-bit levels as Q5's `qh` (bit j = level j's fifth bit) and `qs` (low nibbles, j and j + 16).
  @inline(__always) static func pack5(_ levels: (Int) -> UInt8, _ y: UnsafeMutableRawPointer, at offset: Int) {
    var high: UInt32 = 0
    for j in 0..<32 { high |= UInt32(levels(j) >> 4) << UInt32(j) }
    y.storeBytes(of: high.littleEndian, toByteOffset: offset, as: UInt32.self)
    pack4({ levels($0) & 0xF }, y, at: offset + 4)
  }

  /// gguf-py `Q4_1.quantize_blocks`: `d = (max − min)/15`, `m = min`, `q = min(15, trunc((x − min)·(1/d) + 0.5))`.
  static func q4_1(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
    let (lo, id) = minMaxHeader(x, levels: 15, y)
    pack4({ truncatedLevel((x[$0] - lo) * id, 0.5, 15) }, y, at: 4)
  }

  /// gguf-py `Q5_0.quantize_blocks`: as Q4_0 with `d = max/−16`, `trunc(x·(1/d) + 16.5)` clipped to 31.
  static func q5_0(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
    let id = signedMaxHeader(x, divisor: -16, y)
    pack5({ truncatedLevel(x[$0] * id, 16.5, 31) }, y, at: 2)
  }

  /// gguf-py `Q5_1.quantize_blocks`: `d = (max − min)/31`, `m = min`, `trunc((x − min)·(1/d) + 0.5)` clipped to 31.
  static func q5_1(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
    let (lo, id) = minMaxHeader(x, levels: 31, y)
    pack5({ truncatedLevel((x[$0] - lo) * id, 0.5, 31) }, y, at: 4)
  }
}
