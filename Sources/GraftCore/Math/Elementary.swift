/// Scalar elementary functions (exp, log, sin/cos, pow, erfc) in Double precision, shared by every module.
///
/// Library code imports no C math library, and the standard library has none of these. The engine needs them away
/// from its vector hot paths (position embeddings, sigmoids, GELU references), and the surgery passes for time
/// embeddings and seeded normal draws. Cody–Waite reduction plus series reach a few ulp in Double, so results rounded
/// to Float match PyTorch's float32 functions to the last bit or two.
public enum Elementary {
  @usableFromInline static let ln2Hi = 6.931_471_803_691_238_164_90e-01
  @usableFromInline static let ln2Lo = 1.908_214_929_270_587_700_02e-10

  /// e^x.
  public static func exp(_ x: Double) -> Double {
    if x.isNaN { return x }
    if x > 709.78 { return .infinity }
    if x < -745.2 { return 0 }
    let k = (x / (ln2Hi + ln2Lo)).rounded()
    let r = (x - k * ln2Hi) - k * ln2Lo
    var term = 1.0
    var sum = 1.0
    for i in 1...16 {
      term *= r / Double(i)
      sum += term
    }
    return scale(sum, by: Int(k))
  }

  /// The natural logarithm.
  public static func log(_ x: Double) -> Double {
    if x.isNaN || x < 0 { return .nan }
    if x == 0 { return -.infinity }
    if x.isInfinite { return .infinity }
    var e = Int(x.exponent)
    var m = x.significand  // [1, 2)
    if m > 2.0.squareRoot() {
      m /= 2
      e += 1
    }
    let s = (m - 1) / (m + 1)
    let s2 = s * s
    var term = s
    var sum = 0.0
    var n = 1.0
    while n < 40 {
      sum += term / n
      term *= s2
      n += 2
    }
    return 2 * sum + Double(e) * ln2Hi + Double(e) * ln2Lo
  }

  /// sin and cos of x.
  public static func sinCos(_ x: Double) -> (sin: Double, cos: Double) {
    if !x.isFinite { return (.nan, .nan) }
    let halfPi1 = 1.570_796_326_734_125_614_17
    let halfPi2 = 6.077_100_506_303_965_976_60e-11
    let halfPi3 = 2.022_266_248_795_950_631_10e-21
    let k = (x / (halfPi1 + halfPi2)).rounded()
    let r = ((x - k * halfPi1) - k * halfPi2) - k * halfPi3
    let r2 = r * r
    var s = r
    var c = 1.0
    var ts = r
    var tc = 1.0
    for i in 1...11 {
      ts *= -r2 / Double((2 * i) * (2 * i + 1))
      tc *= -r2 / Double((2 * i - 1) * (2 * i))
      s += ts
      c += tc
    }
    switch Int(k.truncatingRemainder(dividingBy: 4) + 4) % 4 {
    case 0: return (s, c)
    case 1: return (c, -s)
    case 2: return (-s, -c)
    default: return (-c, s)
    }
  }

  /// x · 2^n without overflow in the intermediate.
  public static func scale(_ x: Double, by n: Int) -> Double {
    var v = x
    var k = n
    while k > 1000 {
      v *= Double(sign: .plus, exponent: 1000, significand: 1)
      k -= 1000
    }
    while k < -1000 {
      v *= Double(sign: .plus, exponent: -1000, significand: 1)
      k += 1000
    }
    return v * Double(sign: .plus, exponent: k, significand: 1)
  }

  /// e^x in Float.
  public static func exp(_ x: Float) -> Float { Float(exp(Double(x))) }
  /// The natural logarithm in Float.
  public static func log(_ x: Float) -> Float { Float(log(Double(x))) }
  /// `1 / (1 + e^−x)` in Float; `sigmoid(+∞) = 1`, `sigmoid(−∞) = 0`.
  public static func sigmoid(_ x: Float) -> Float {
    if x.isNaN { return x }
    return Float(1 / (1 + exp(-Double(x))))
  }
  /// `a^b` for `a > 0`.
  public static func pow(_ a: Double, _ b: Double) -> Double {
    if a == 0 { return b > 0 ? 0 : .infinity }
    return exp(b * log(a))
  }

  /// detrex `inverse_sigmoid(x, eps=1e-3)`: clamp to [0, 1], then `log(max(x, eps) / max(1 − x, eps))`.
  public static func inverseSigmoid(_ x: Float, eps: Float = 1e-3) -> Float {
    let c = min(max(x, 0), 1)
    let x1 = max(c, eps)
    let x2 = max(1 - c, eps)
    return log(x1 / x2)
  }

  /// The complementary error function, accurate where it is small as well (no cancellation for large x).
  public static func erfc(_ x: Double) -> Double {
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
  public static func gelu(_ x: Double) -> Double { 0.5 * x * erfc(-x * 0.707_106_781_186_547_524_4) }
}
