/// Scalar elementary functions in Double precision, rounded once to Float.
///
/// Library code may not import the C math library, and the transformer needs `exp`, `log`, `sin`, `cos` and `pow`
/// far from the softmax hot path (position embeddings, sigmoids, logits). Evaluating in Double and rounding once
/// gives correctly rounded Float results in practice, so the engine matches PyTorch's float32 `torch.sin` & co.
/// to the last bit or two.
enum DETRMath {
  static let ln2Hi = 6.931_471_803_691_238_164_90e-01
  static let ln2Lo = 1.908_214_929_270_587_700_02e-10

  /// e^x.
  static func exp(_ x: Double) -> Double {
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
  static func log(_ x: Double) -> Double {
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
  static func sinCos(_ x: Double) -> (sin: Double, cos: Double) {
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
  static func scale(_ x: Double, by n: Int) -> Double {
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
  static func exp(_ x: Float) -> Float { Float(exp(Double(x))) }
  /// The natural logarithm in Float.
  static func log(_ x: Float) -> Float { Float(log(Double(x))) }
  /// `1 / (1 + e^−x)` in Float; `sigmoid(+∞) = 1`, `sigmoid(−∞) = 0`.
  static func sigmoid(_ x: Float) -> Float {
    if x.isNaN { return x }
    return Float(1 / (1 + exp(-Double(x))))
  }
  /// `a^b` for `a > 0`.
  static func pow(_ a: Double, _ b: Double) -> Double {
    if a == 0 { return b > 0 ? 0 : .infinity }
    return exp(b * log(a))
  }

  /// detrex `inverse_sigmoid(x, eps=1e-3)`: clamp to [0, 1], then `log(max(x, eps) / max(1 − x, eps))`.
  static func inverseSigmoid(_ x: Float, eps: Float = 1e-3) -> Float {
    let c = min(max(x, 0), 1)
    let x1 = max(c, eps)
    let x2 = max(1 - c, eps)
    return log(x1 / x2)
  }
}
