import GraftCore

// The per-layer folding steps behind `DenoiseRep.fuse`: a Linear (exact), a conv (the public, inexact rule).
extension DenoiseRep {
  struct LinearResult {
    var weight: Tensor
    var bias: Tensor
    var timeTermMax: Double?
    var noiseTermMax: Double?
    var seeded: Bool
  }

  /// Folds one step into a Linear: `W' = c3·W − c1·W·W_d`, `b' = b + W·v` with `v = −c1·(b_d [+ W_d·e]) [+ c2·z]`.
  static func fuseLinear(
    _ layer: Layer, constants k: Constants, table: TensorTable, options: FuseOptions
  )
    throws(GraftError) -> LinearResult
  {
    let out = layer.outFeatures
    let inp = layer.inFeatures
    let wName = layer.name("weight")
    guard let wTensor = table[wName] else { throw GraftError(.tensorNotFound, "missing tensor", tensor: wName) }
    let dmName = layer.name("dm.weight")
    guard let dmTensor = table[dmName] else {
      throw GraftError(
        .invalidModel, "missing tensor; expected the noise predictor's weight [\(inp), \(inp)]", tensor: dmName)
    }
    guard dmTensor.shape == [inp, inp] else {
      throw GraftError(
        .invalidModel,
        "has shape \(dmTensor.shape) but '\(wName)' is \(wTensor.shape); the noise predictor acts on the Linear's "
          + "input, so expected [\(inp), \(inp)]", tensor: dmName)
    }
    let bd = try vector(layer.name("dm.bias"), count: inp, in: table)
    let bias: [Double]? = layer.hasBias ? try vector(layer.name("bias"), count: out, in: table) : nil
    try DenoiseRepValues.checkDType(wTensor, name: wName)

    // The time MLP is read only in `exact`: in the other modes it is as much data as the model itself, for nothing.
    let hasTimeMLP = options.mode.includesTimeTerm
    let useFloatProduct = options.product != nil && wTensor.dtype != .float64 && dmTensor.dtype != .float64
    let wdDouble = hasTimeMLP || !useFloatProduct ? try DenoiseRepValues.doubles(dmTensor, name: dmName) : []
    var wdE: [Double]?
    if hasTimeMLP {
      let e = try timeEmbedding(for: layer, t: k.t, in: table)
      var r = [Double](repeating: 0, count: inp)
      for i in 0..<inp {
        var acc = 0.0
        for j in 0..<inp { acc += wdDouble[i * inp + j] * e[j] }
        r[i] = acc
      }
      wdE = r
    }
    var z: [Double]?
    var seeded = false
    if options.mode.includesNoise {
      if let supplied = options.noise[layer.prefix] {
        guard supplied.count == inp else {
          throw GraftError(
            .invalidArgument, "the supplied z has \(supplied.count) values; expected \(inp)", tensor: layer.prefix)
        }
        z = supplied
      } else {
        z = noiseVector(layer: layer.prefix, seed: options.seed, count: inp)
        seeded = true
      }
    }
    // v is what the fused bias adds through W: b' = b + W·v.
    var v = [Double](repeating: 0, count: inp)
    var timeV = [Double](repeating: 0, count: inp)
    var noiseV = [Double](repeating: 0, count: inp)
    for i in 0..<inp {
      timeV[i] = -k.c1 * (wdE?[i] ?? 0)
      noiseV[i] = k.c2 * (z?[i] ?? 0)
      v[i] = -k.c1 * bd[i] + (options.mode.includesTimeTerm ? timeV[i] : 0) + noiseV[i]
    }

    let fusedWeight: [Double]
    var newBias = [Double](repeating: 0, count: out)
    var timeMax = 0.0
    var noiseMax = 0.0
    func rowTerms(_ row: (Int) -> Double, _ o: Int) {
      var acc = bias?[o] ?? 0
      var tAcc = 0.0
      var nAcc = 0.0
      for i in 0..<inp {
        let w = row(i)
        acc += w * v[i]
        tAcc += w * timeV[i]
        nAcc += w * noiseV[i]
      }
      newBias[o] = acc
      timeMax = max(timeMax, abs(tAcc))
      noiseMax = max(noiseMax, abs(nAcc))
    }
    if useFloatProduct, let product = options.product {
      // Float32 weights are read in place (no copy of W and W_d); the product writes every value of `p`.
      fusedWeight = try DenoiseRepValues.withFloats(wTensor, name: wName) { w throws(GraftError) in
        for o in 0..<out { rowTerms({ Double(w[o * inp + $0]) }, o) }
        return try DenoiseRepValues.withFloats(dmTensor, name: dmName) { wd in
          [Double](unsafeUninitializedCapacity: out * inp) { p, initialized in
            guard let wp = w.baseAddress, let dp = wd.baseAddress, let cp = p.baseAddress else { return }
            product(wp, dp, out, inp, inp, cp)
            for idx in 0..<(out * inp) { cp[idx] = k.c3 * Double(wp[idx]) - k.c1 * cp[idx] }
            initialized = out * inp
          }
        }
      }
    } else {
      let w = try DenoiseRepValues.doubles(wTensor, name: wName)
      var p = referenceProduct(w, wdDouble, m: out, k: inp, n: inp)
      for idx in 0..<(out * inp) { p[idx] = k.c3 * w[idx] - k.c1 * p[idx] }
      fusedWeight = p
      for o in 0..<out { rowTerms({ w[o * inp + $0] }, o) }
    }
    let biasDType = layer.hasBias ? (table[layer.name("bias")]?.dtype ?? wTensor.dtype) : wTensor.dtype
    return LinearResult(
      weight: DenoiseRepValues.tensor(fusedWeight, dtype: wTensor.dtype, shape: wTensor.shape),
      bias: DenoiseRepValues.tensor(newBias, dtype: biasDType, shape: [out]),
      timeTermMax: hasTimeMLP ? timeMax : nil,
      noiseTermMax: options.mode.includesNoise ? noiseMax : nil, seeded: seeded)
  }

  /// `A[m×k]·B[k×n]` in float64, row by row (the portable fallback and the F64 path).
  static func referenceProduct(_ a: [Double], _ b: [Double], m: Int, k: Int, n: Int) -> [Double] {
    var c = [Double](repeating: 0, count: m * n)
    c.withUnsafeMutableBufferPointer { cb in
      a.withUnsafeBufferPointer { ab in
        b.withUnsafeBufferPointer { bb in
          guard let cp = cb.baseAddress, let ap = ab.baseAddress, let bp = bb.baseAddress else { return }
          for i in 0..<m {
            let row = cp + i * n
            for p in 0..<k {
              let x = ap[i * k + p]
              if x == 0 { continue }
              let brow = bp + p * n
              for j in 0..<n { row[j] += x * brow[j] }
            }
          }
        }
      }
    }
    return c
  }

  /// Applies the public `DenoiseConv2d` fusion, which is not an equivalence (reachable only with `compatConv`).
  ///
  /// `W' = W − c1·conv2d(W, W_d, b_d)` with stride 1 and 'same' padding, `b' = c2·c3·b`.
  static func fuseConvCompat(
    _ layer: Layer, constants k: Constants, table: TensorTable
  ) throws(GraftError)
    -> (weight: Tensor, bias: Tensor?)
  {
    let wName = layer.name("weight")
    let dmName = layer.name("dm.weight")
    guard let wTensor = table[wName], let dmTensor = table[dmName] else {
      throw GraftError(.invalidModel, "missing tensor; expected the conv noise predictor's weight", tensor: dmName)
    }
    let s = wTensor.shape
    let (o, c, h, w) = (s[0], s[1], s[2], s[3])
    let d = dmTensor.shape
    guard o == c, d.count == 4, d[0] == c, d[1] == c, d[2] % 2 == 1, d[3] % 2 == 1 else {
      throw GraftError(
        .invalidModel,
        "has shape \(d); the public conv fusion only type-checks for [\(c), \(c), k, k] with k odd (in = out "
          + "channels, 'same' padding)", tensor: dmName)
    }
    let wv = try DenoiseRepValues.doubles(wTensor, name: wName)
    let dv = try DenoiseRepValues.doubles(dmTensor, name: dmName)
    let bd = try vector(layer.name("dm.bias"), count: c, in: table)
    let (kh, kw) = (d[2], d[3])
    var result = wv
    for n in 0..<o {
      for co in 0..<c {
        for y in 0..<h {
          for x in 0..<w {
            var acc = bd[co]
            for ci in 0..<c {
              for dy in 0..<kh {
                let yy = y + dy - kh / 2
                if yy < 0 || yy >= h { continue }
                for dx in 0..<kw {
                  let xx = x + dx - kw / 2
                  if xx < 0 || xx >= w { continue }
                  acc += wv[((n * c + ci) * h + yy) * w + xx] * dv[((co * c + ci) * kh + dy) * kw + dx]
                }
              }
            }
            let idx = ((n * c + co) * h + y) * w + x
            result[idx] = wv[idx] - k.c1 * acc
          }
        }
      }
    }
    var bias: Tensor?
    if layer.hasBias, let bTensor = table[layer.name("bias")] {
      let b = try vector(layer.name("bias"), count: o, in: table)
      bias = DenoiseRepValues.tensor(b.map { k.c2 * k.c3 * $0 }, dtype: bTensor.dtype, shape: [o])
    }
    return (DenoiseRepValues.tensor(result, dtype: wTensor.dtype, shape: s), bias)
  }
}
