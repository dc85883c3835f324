extension GGUFQuantize {
  /// The 0…`levels` integer gguf-py computes as `trunc(v + offset)` clipped, with `v` already rounded to f32.
  @inline(__always) static func truncatedLevel(_ v: Float, _ offset: Float, _ levels: Int) -> UInt8 {
    let shifted = v + offset
    return UInt8(Swift.min(levels, Swift.max(0, Int(shifted.rounded(.towardZero)))))
  }

  /// The smallest and largest of 32 values.
  @inline(__always) static func range32(_ x: UnsafePointer<Float>) -> (Float, Float) {
    var lo = x[0]
    var hi = x[0]
    for j in 1..<32 {
      lo = Swift.min(lo, x[j])
      hi = Swift.max(hi, x[j])
    }
    return (lo, hi)
  }

  /// gguf-py `Q4_1.quantize_blocks`: `d = (max − min)/15`, `m = min`, `q = min(15, trunc((x − min)·(1/d) + 0.5))`.
  static func q4_1(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
    let (lo, hi) = range32(x)
    let d = (hi - lo) / 15
    let id: Float = d == 0 ? 0 : 1 / d
    store(Float16(d).bitPattern, y, 0)
    store(Float16(lo).bitPattern, y, 2)
    for j in 0..<16 {
      let a = truncatedLevel((x[j] - lo) * id, 0.5, 15)
      let b = truncatedLevel((x[j + 16] - lo) * id, 0.5, 15)
      y.storeBytes(of: a | b << 4, toByteOffset: 4 + j, as: UInt8.self)
    }
  }

  /// Stores 32 five-bit levels as Q5's `qh` (bit j = level j's fifth bit) and `qs` (low nibbles, j and j + 16).
  @inline(__always) static func pack5(_ levels: (Int) -> UInt8, _ y: UnsafeMutableRawPointer, at offset: Int) {
    var high: UInt32 = 0
    for j in 0..<32 { high |= UInt32(levels(j) >> 4) << UInt32(j) }
    y.storeBytes(of: high.littleEndian, toByteOffset: offset, as: UInt32.self)
    for j in 0..<16 {
      y.storeBytes(of: (levels(j) & 0xF) | levels(j + 16) << 4, toByteOffset: offset + 4 + j, as: UInt8.self)
    }
  }

  /// gguf-py `Q5_0.quantize_blocks`: as Q4_0 with `d = max/−16`, `trunc(x·(1/d) + 16.5)` clipped to 31.
  static func q5_0(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
    var amax = abs(x[0])
    var max = x[0]
    for j in 1..<32 where abs(x[j]) > amax {
      amax = abs(x[j])
      max = x[j]
    }
    let d = max / -16
    let id: Float = d == 0 ? 0 : 1 / d
    store(Float16(d).bitPattern, y, 0)
    pack5({ truncatedLevel(x[$0] * id, 16.5, 31) }, y, at: 2)
  }

  /// gguf-py `Q5_1.quantize_blocks`: `d = (max − min)/31`, `m = min`, `trunc((x − min)·(1/d) + 0.5)` clipped to 31.
  static func q5_1(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
    let (lo, hi) = range32(x)
    let d = (hi - lo) / 31
    let id: Float = d == 0 ? 0 : 1 / d
    store(Float16(d).bitPattern, y, 0)
    store(Float16(lo).bitPattern, y, 2)
    pack5({ truncatedLevel((x[$0] - lo) * id, 0.5, 31) }, y, at: 4)
  }
}
