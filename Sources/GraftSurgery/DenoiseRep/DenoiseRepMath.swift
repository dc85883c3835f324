/// Double-precision `exp`, `log`, `sin`, `cos` and `erfc` for the time embedding and the noise draw.
///
/// The standard library has none of them and library code may not import Glibc. Arguments here are small
/// (|x| ≲ 10³ for the sinusoid), so Cody–Waite reduction plus Taylor series reach a few ulp.
enum DenoiseRepMath {
  private static let ln2Hi = 6.931_471_803_691_238_164_90e-01
  private static let ln2Lo = 1.908_214_929_270_587_700_02e-10

  /// e^x.
  static func exp(_ x: Double) -> Double {
    if x.isNaN { return x }
    if x > 709.78 { return .infinity }
    if x < -745.2 { return 0 }
    let k = (x / (ln2Hi + ln2Lo)).rounded()
    let r = (x - k * ln2Hi) - k * ln2Lo
    var term = 1.0
    var sum = 1.0
    for n in 1...18 {
      term *= r / Double(n)
      sum += term
    }
    return Double(sign: .plus, exponent: Int(k), significand: sum)
  }

  /// The natural logarithm of a positive finite x.
  static func log(_ x: Double) -> Double {
    guard x > 0, x.isFinite else { return x == 0 ? -.infinity : .nan }
    var e = Int(x.exponent)
    var m = x.significand  // [1, 2)
    if m > 2.0.squareRoot() {
      m /= 2
      e += 1
    }
    // log(m) = 2·atanh(s), s = (m−1)/(m+1), |s| ≤ 0.172.
    let s = (m - 1) / (m + 1)
    let s2 = s * s
    var power = s
    var sum = 0.0
    var n = 1.0
    while n < 60 {
      sum += power / n
      power *= s2
      n += 2
    }
    return 2 * sum + Double(e) * ln2Hi + Double(e) * ln2Lo
  }

  // π/2 split in three 33-bit pieces (fdlibm), so k·piece is exact for |k| < 2²⁰.
  private static let pio2a = 1.570_796_326_734_125_614_17e+00
  private static let pio2b = 6.077_100_506_303_965_976_60e-11
  private static let pio2c = 2.022_266_248_711_166_455_80e-21

  /// sin x and cos x for |x| < 10⁶.
  static func sinCos(_ x: Double) -> (sin: Double, cos: Double) {
    let k = (x * (2 / Double.pi)).rounded()
    let r = ((x - k * pio2a) - k * pio2b) - k * pio2c
    let r2 = r * r
    var sinTerm = r
    var sinSum = r
    var cosTerm = 1.0
    var cosSum = 1.0
    var n = 1.0
    for _ in 0..<12 {
      cosTerm *= -r2 / (n * (n + 1))
      cosSum += cosTerm
      sinTerm *= -r2 / ((n + 1) * (n + 2))
      sinSum += sinTerm
      n += 2
    }
    switch Int(k) & 3 {
    case 0: return (sinSum, cosSum)
    case 1: return (cosSum, -sinSum)
    case 2: return (-sinSum, -cosSum)
    default: return (-cosSum, sinSum)
    }
  }

  /// The complementary error function, accurate where it is small as well (no cancellation for large x).
  static func erfc(_ x: Double) -> Double {
    if x.isNaN { return x }
    if x >= 2 { return erfcTail(x) }
    if x <= -2 { return 2 - erfcTail(-x) }
    // erf(x) = 2/√π · Σ (−1)ⁿ x^(2n+1) / (n!·(2n+1)); for |x| < 2 the largest term is below 3.
    let x2 = x * x
    var term = x
    var sum = x
    var n = 0.0
    while abs(term) > 1e-18 * abs(sum) {
      n += 1
      term *= -x2 / n
      sum += term / (2 * n + 1)
      if n > 200 { break }
    }
    return 1 - sum * 1.128_379_167_095_512_573_9
  }

  /// erfc(x) for x ≥ 2 by its continued fraction (modified Lentz).
  private static func erfcTail(_ x: Double) -> Double {
    if x > 27 { return 0 }
    // erfc(x) = exp(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))).
    let tiny = 1e-300
    var f = x
    var c = x
    var d = 0.0
    var k = 1.0
    while k < 500 {
      let a = k / 2
      d = x + a * d
      d = d == 0 ? tiny : d
      c = x + a / c
      c = c == 0 ? tiny : c
      d = 1 / d
      let delta = c * d
      f *= delta
      if abs(delta - 1) < 1e-17 { break }
      k += 1
    }
    return exp(-x * x) / f * 0.564_189_583_547_756_286_9
  }

  /// GELU with the exact erf form, `x·Φ(x)` (PyTorch's default `nn.GELU()`).
  static func gelu(_ x: Double) -> Double { 0.5 * x * erfc(-x * 0.707_106_781_186_547_524_4) }
}
