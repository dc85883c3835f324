public import GraftEngine

/// How far one tensor is from a reference, accumulated in Float64.
///
/// Every numeric check in Graft measures with this one type, so "max|Δ|", "scale" and "cosine" mean the same thing in
/// every table: Δ = after − before, the scale is `max|before|`, non-finite entries are counted, never compared.
public struct TensorComparison: Sendable {
  /// The reference's shape.
  public var shapeBefore: [Int]
  /// The compared tensor's shape.
  public var shapeAfter: [Int]
  /// `max|after − before|` over finite pairs (infinite when the shapes differ or a value is not finite).
  public var maxAbs: Double
  /// `max|before|`, the scale tolerances are relative to.
  public var scale: Double
  /// The cosine similarity of the flattened tensors.
  public var cosine: Double
  /// How many positions hold NaN or an infinity on either side.
  public var nonFinite: Int
  /// For logits `[N, classes]`: the fraction of rows whose arg-max agrees.
  public var argmaxAgreement: Double?

  /// `maxAbs / scale`: the quantity a relative tolerance bounds (`maxAbs` itself when the scale is 0).
  public var relative: Double { scale > 0 ? maxAbs / scale : maxAbs }

  /// Whether both tensors have the same shape and only finite values.
  public var isComparable: Bool { shapeBefore == shapeAfter && nonFinite == 0 }

  /// Compares `after` with the reference `before`; `argmax` also measures arg-max agreement of `[N, classes]` rows.
  public init(before: FloatTensor, after: FloatTensor, argmax: Bool = false) {
    self.init(before.values, after.values, shapeBefore: before.shape, shapeAfter: after.shape)
    guard argmax, shapeBefore == shapeAfter, before.shape.count == 2, let classes = before.shape.last, classes > 1
    else { return }
    let n = before.shape[0]
    var same = 0
    for r in 0..<n {
      let b = before.values[(r * classes)..<((r + 1) * classes)]
      let a = after.values[(r * classes)..<((r + 1) * classes)]
      if b.indices.max(by: { b[$0] < b[$1] }) == a.indices.max(by: { a[$0] < a[$1] }) { same += 1 }
    }
    argmaxAgreement = n > 0 ? Double(same) / Double(n) : 1
  }

  /// Compares two flat arrays (the reference first).
  public init(_ before: [Float], _ after: [Float], shapeBefore: [Int]? = nil, shapeAfter: [Int]? = nil) {
    self.shapeBefore = shapeBefore ?? [before.count]
    self.shapeAfter = shapeAfter ?? [after.count]
    var maxAbs = 0.0
    var scale = 0.0
    var dot = 0.0
    var nb = 0.0
    var na = 0.0
    var nonFinite = 0
    for (b, a) in zip(before, after) {
      let bd = Double(b)
      let ad = Double(a)
      guard bd.isFinite, ad.isFinite else {
        nonFinite += 1
        continue
      }
      maxAbs = max(maxAbs, abs(ad - bd))
      scale = max(scale, abs(bd))
      dot += ad * bd
      nb += bd * bd
      na += ad * ad
    }
    let sameShape = self.shapeBefore == self.shapeAfter && before.count == after.count
    self.maxAbs = sameShape && nonFinite == 0 ? maxAbs : .infinity
    self.scale = scale
    self.cosine =
      sameShape ? (nb == 0 && na == 0 ? 1 : dot / ((nb * na).squareRoot() + Double.leastNormalMagnitude)) : .nan
    self.nonFinite = nonFinite
  }

  /// Why the tensors cannot be compared, if they cannot.
  public var problem: String? {
    if shapeBefore != shapeAfter { return "shapes differ: \(shapeBefore) vs \(shapeAfter)" }
    if nonFinite > 0 { return "\(nonFinite) non-finite values" }
    return nil
  }
}
