/// Number and column formatting shared by every report (no Foundation in library code, so no `String(format:)`).
public enum Format {
  /// Scientific notation with `significantDigits` digits: `1.23e-05`, or with `paddedExponent: false`, `1.230e-5`
  /// (and no exponent at all for exponent 0).
  ///
  /// Zero prints as `0`; NaN and infinities as `nan`, `inf`, `-inf`.
  public static func scientific(_ x: Double, significantDigits: Int = 3, paddedExponent: Bool = true) -> String {
    if x == 0 { return "0" }
    if !x.isFinite { return "\(x)" }
    var exponent = 0
    var m = abs(x)
    while m >= 10 {
      m /= 10
      exponent += 1
    }
    while m < 1 {
      m *= 10
      exponent -= 1
    }
    let digits = max(1, significantDigits)
    let scale = pow10(digits - 1)
    var units = Int((m * scale).rounded())
    if Double(units) >= scale * 10 {
      units /= 10
      exponent += 1
    }
    let whole = String(units / Int(scale))
    var fraction = String(units % Int(scale))
    while fraction.count < digits - 1 { fraction = "0" + fraction }
    let mantissa = (x < 0 ? "-" : "") + whole + (digits > 1 ? "." + fraction : "")
    guard paddedExponent else { return exponent == 0 ? mantissa : mantissa + "e\(exponent)" }
    return mantissa + "e" + (exponent < 0 ? "-" : "+") + (abs(exponent) < 10 ? "0" : "") + String(abs(exponent))
  }

  /// Fixed-point with `digits` decimals.
  public static func fixed(_ x: Double, digits: Int) -> String {
    if !x.isFinite { return "\(x)" }
    let scale = pow10(digits)
    let r = (abs(x) * scale).rounded()
    let whole = Int(r / scale)
    let frac = Int(r - Double(whole) * scale)
    var fs = String(frac)
    while fs.count < digits { fs = "0" + fs }
    return (x < 0 && r != 0 ? "-" : "") + String(whole) + (digits > 0 ? "." + fs : "")
  }

  /// Bytes with a binary unit: `1.50 GiB`.
  public static func bytes(_ n: Int) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var v = Double(n)
    var u = 0
    while v >= 1024 && u < units.count - 1 {
      v /= 1024
      u += 1
    }
    return u == 0 ? "\(n) B" : fixed(v, digits: 2) + " " + units[u]
  }

  /// An integer with thousands separators: `86,567,656`.
  public static func grouped(_ n: Int) -> String {
    let s = String(abs(n))
    var out = ""
    for (i, c) in s.reversed().enumerated() {
      if i > 0 && i % 3 == 0 { out.append(",") }
      out.append(c)
    }
    return (n < 0 ? "-" : "") + String(out.reversed())
  }

  /// Pads or truncates to a width (left-aligned).
  public static func pad(_ s: String, _ width: Int) -> String {
    s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
  }

  /// Pads to a width (right-aligned).
  public static func padLeft(_ s: String, _ width: Int) -> String {
    s.count >= width ? s : String(repeating: " ", count: width - s.count) + s
  }

  private static func pow10(_ e: Int) -> Double {
    var r = 1.0
    for _ in 0..<abs(e) { r *= 10 }
    return e < 0 ? 1 / r : r
  }
}
