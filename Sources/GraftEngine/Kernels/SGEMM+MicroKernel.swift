import CTargetFeatures

/// `acc += a * b`, fused when the build enables FMA.
///
/// On baseline x86-64 `addProduct` lowers to one `fmaf` libcall per lane (80× slower), so the branch, folded at
/// compile time, falls back to a separate multiply and add there.
@inline(__always)
func multiplyAdd(_ acc: inout SIMD8<Float>, _ a: SIMD8<Float>, _ b: SIMD8<Float>) {
  if CTF_HAS_FMA != 0 {
    acc.addProduct(a, b)
  } else {
    acc += a * b
  }
}

extension GEMM {
  /// Adds the product of an `mr`-row packed A panel and an `nr`-column packed B panel to a full 6×16 tile of C, or,
  /// with `overwrite`, stores it plus the optional `bias` row without reading C (the first depth block of `C = A·B +
  /// b`, which saves a pass over C).
  @inline(__always)
  static func microKernel(
    depth: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int,
    overwrite: Bool = false, bias: UnsafePointer<Float>? = nil
  ) {
    var c00 = SIMD8<Float>(), c01 = SIMD8<Float>()
    var c10 = SIMD8<Float>(), c11 = SIMD8<Float>()
    var c20 = SIMD8<Float>(), c21 = SIMD8<Float>()
    var c30 = SIMD8<Float>(), c31 = SIMD8<Float>()
    var c40 = SIMD8<Float>(), c41 = SIMD8<Float>()
    var c50 = SIMD8<Float>(), c51 = SIMD8<Float>()
    var ap = a
    var bp = UnsafeRawPointer(b)
    for _ in 0..<depth {
      let b0 = bp.load(as: SIMD8<Float>.self)
      let b1 = bp.load(fromByteOffset: 32, as: SIMD8<Float>.self)
      var av = SIMD8<Float>(repeating: ap[0])
      multiplyAdd(&c00, av, b0)
      multiplyAdd(&c01, av, b1)
      av = SIMD8<Float>(repeating: ap[1])
      multiplyAdd(&c10, av, b0)
      multiplyAdd(&c11, av, b1)
      av = SIMD8<Float>(repeating: ap[2])
      multiplyAdd(&c20, av, b0)
      multiplyAdd(&c21, av, b1)
      av = SIMD8<Float>(repeating: ap[3])
      multiplyAdd(&c30, av, b0)
      multiplyAdd(&c31, av, b1)
      av = SIMD8<Float>(repeating: ap[4])
      multiplyAdd(&c40, av, b0)
      multiplyAdd(&c41, av, b1)
      av = SIMD8<Float>(repeating: ap[5])
      multiplyAdd(&c50, av, b0)
      multiplyAdd(&c51, av, b1)
      ap += mr
      bp += nr * 4
    }
    if overwrite {
      var lo = SIMD8<Float>()
      var hi = SIMD8<Float>()
      if let bias {
        lo = UnsafeRawPointer(bias).loadUnaligned(as: SIMD8<Float>.self)
        hi = UnsafeRawPointer(bias).loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self)
      }
      store(c, c00 + lo, c01 + hi)
      store(c + ldc, c10 + lo, c11 + hi)
      store(c + 2 * ldc, c20 + lo, c21 + hi)
      store(c + 3 * ldc, c30 + lo, c31 + hi)
      store(c + 4 * ldc, c40 + lo, c41 + hi)
      store(c + 5 * ldc, c50 + lo, c51 + hi)
      return
    }
    accumulate(c, c00, c01)
    accumulate(c + ldc, c10, c11)
    accumulate(c + 2 * ldc, c20, c21)
    accumulate(c + 3 * ldc, c30, c31)
    accumulate(c + 4 * ldc, c40, c41)
    accumulate(c + 5 * ldc, c50, c51)
  }

  @inline(__always)
  private static func store(_ row: UnsafeMutablePointer<Float>, _ lo: SIMD8<Float>, _ hi: SIMD8<Float>) {
    let raw = UnsafeMutableRawPointer(row)
    raw.storeBytes(of: lo, as: SIMD8<Float>.self)
    raw.storeBytes(of: hi, toByteOffset: 32, as: SIMD8<Float>.self)
  }

  @inline(__always)
  private static func accumulate(_ row: UnsafeMutablePointer<Float>, _ lo: SIMD8<Float>, _ hi: SIMD8<Float>) {
    let raw = UnsafeMutableRawPointer(row)
    raw.storeBytes(of: raw.loadUnaligned(as: SIMD8<Float>.self) + lo, as: SIMD8<Float>.self)
    raw.storeBytes(
      of: raw.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self) + hi, toByteOffset: 32, as: SIMD8<Float>.self)
  }

  /// Adds (or with `overwrite`, stores plus `bias`) a partial tile (`rows` ≤ 6, `cols` ≤ 16) through a zeroed
  /// scratch tile.
  @inline(__always)
  static func edgeKernel(
    depth: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int,
    rows: Int, cols: Int, overwrite: Bool = false, bias: UnsafePointer<Float>? = nil
  ) {
    withUnsafeTemporaryAllocation(of: Float.self, capacity: mr * nr) { tile in
      guard let t = tile.baseAddress else { return }
      t.initialize(repeating: 0, count: mr * nr)
      microKernel(depth: depth, a: a, b: b, c: t, ldc: nr)
      for r in 0..<rows {
        let dst = c + r * ldc
        let src = t + r * nr
        if overwrite {
          for j in 0..<cols { dst[j] = src[j] + (bias?[j] ?? 0) }
        } else {
          for j in 0..<cols { dst[j] += src[j] }
        }
      }
    }
  }
}
