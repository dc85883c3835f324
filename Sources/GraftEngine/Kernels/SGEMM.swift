/// A read-only matrix addressed by row and column strides, so transposed and interleaved operands need no copy.
struct MatrixOperand {
  /// The element at row 0, column 0.
  var base: UnsafePointer<Float>
  /// Elements between consecutive rows.
  var rowStride: Int
  /// Elements between consecutive columns.
  var colStride: Int

  init(_ base: UnsafePointer<Float>, rowStride: Int, colStride: Int = 1) {
    self.base = base
    self.rowStride = rowStride
    self.colStride = colStride
  }

  /// The transposed view.
  var transposed: MatrixOperand { MatrixOperand(base, rowStride: colStride, colStride: rowStride) }
}

/// Single-precision matrix multiplication `C += A·B`: packed panels, cache blocking, a 6×16 SIMD8 register tile.
///
/// The structure follows GotoBLAS/BLIS: depth is blocked (``depthBlock(_:)``, at most ``kc``) so a packed B panel
/// (kc×16) stays in L1 while the packed A block (mc×kc) streams from L2; the 6×16 tile keeps 12 vector accumulators in registers. Threads split the
/// columns, so each one owns disjoint tiles of C and packs its own copy of A.
enum GEMM {
  static let mr = 6
  static let nr = 16
  static let kc = 512

  /// The depth block for a product of depth `k`: equal blocks of at most ``kc``.
  ///
  /// 768 becomes 2×384 rather than 512 + 256, since every block costs one read-modify-write pass over C. Measured on Zen 4: 384–512 beat 256 by 10–15 %.
  @inline(__always)
  static func depthBlock(_ k: Int) -> Int {
    let blocks = max(1, (k + kc - 1) / kc)
    return (k + blocks - 1) / blocks
  }
  // 204 rows cover a ViT sequence (197 tokens) in one block, so each weight streams from memory once per forward.
  static let mc = 204
  /// Column panels packed at once when B is not pre-packed: 2048 columns, a 2 MiB B block at full depth that stays
  /// in L3, so A is repacked only once per 2048 columns.
  static let panelsPerChunk = 128

  /// Packs rows `i0..<i0+rows` and depth `p0..<p0+depth` of A into `mr`-row panels, zero-padding the last panel.
  static func packA(
    _ a: MatrixOperand, rowStart i0: Int, rows: Int, depthStart p0: Int, depth: Int,
    into dst: UnsafeMutablePointer<Float>
  ) {
    var out = dst
    var i = 0
    while i < rows {
      let panelRows = min(mr, rows - i)
      let origin = a.base + (i0 + i) * a.rowStride + p0 * a.colStride
      if panelRows == mr && a.colStride == 1 {
        let r0 = origin
        let r1 = origin + a.rowStride
        let r2 = origin + 2 * a.rowStride
        let r3 = origin + 3 * a.rowStride
        let r4 = origin + 4 * a.rowStride
        let r5 = origin + 5 * a.rowStride
        for p in 0..<depth {
          out[0] = r0[p]
          out[1] = r1[p]
          out[2] = r2[p]
          out[3] = r3[p]
          out[4] = r4[p]
          out[5] = r5[p]
          out += mr
        }
      } else {
        packStrided(origin, depth: depth, step: a.colStride, stride: a.rowStride, count: panelRows, width: mr, &out)
      }
      i += mr
    }
  }

  /// Packs depth `p0..<p0+depth` and columns `j0..<j0+cols` of B into `nr`-column panels, zero-padding the last.
  static func packB(
    _ b: MatrixOperand, depthStart p0: Int, depth: Int, colStart j0: Int, cols: Int,
    into dst: UnsafeMutablePointer<Float>
  ) {
    var out = dst
    var j = 0
    while j < cols {
      let panelCols = min(nr, cols - j)
      let origin = b.base + p0 * b.rowStride + (j0 + j) * b.colStride
      if panelCols == nr && b.colStride == 1 {
        for p in 0..<depth {
          let src = UnsafeRawPointer(origin + p * b.rowStride)
          let d = UnsafeMutableRawPointer(out)
          d.storeBytes(of: src.loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
          d.storeBytes(
            of: src.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self), toByteOffset: 32, as: SIMD8<Float>.self)
          out += nr
        }
      } else if panelCols == nr && b.rowStride == 1 {
        // Transposed B (a weight read as Wᵀ): walk each source row once, contiguously.
        for jj in 0..<nr {
          let src = origin + jj * b.colStride
          for p in 0..<depth { out[p * nr + jj] = src[p] }
        }
        out += depth * nr
      } else {
        packStrided(origin, depth: depth, step: b.rowStride, stride: b.colStride, count: panelCols, width: nr, &out)
      }
      j += nr
    }
  }

  /// The general packing path of A and B (a partial panel or an unusual layout): `depth` vectors, the `p`-th at
  /// `origin + p·step` with elements `stride` apart, each copied as `count` values zero-padded to `width`.
  @inline(__always)
  static func packStrided(
    _ origin: UnsafePointer<Float>, depth: Int, step: Int, stride: Int, count: Int, width: Int,
    _ out: inout UnsafeMutablePointer<Float>
  ) {
    for p in 0..<depth {
      let vector = origin + p * step
      for r in 0..<count { out[r] = vector[r * stride] }
      for r in count..<width { out[r] = 0 }
      out += width
    }
  }

  /// Allocates 64-byte-aligned scratch that the packing routines fill.
  @inline(__always)
  static func withScratch<R>(_ count: Int, _ body: (UnsafeMutablePointer<Float>) -> R) -> R {
    let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 16) * 4, alignment: 64)
    defer { raw.deallocate() }
    return body(raw.bindMemory(to: Float.self, capacity: max(count, 16)))
  }

  /// Multiplies the packed A block by `panelCount` packed B panels starting at column `col0`.
  @inline(__always)
  static func macroKernel(
    rows: Int, depth: Int, packedA: UnsafePointer<Float>, packedB: UnsafePointer<Float>, panelStride: Int,
    panelCount: Int, col0: Int, totalCols: Int, c: UnsafeMutablePointer<Float>, ldc: Int, overwrite: Bool = false,
    bias: UnsafePointer<Float>? = nil
  ) {
    for jp in 0..<panelCount {
      let col = col0 + jp * nr
      let cols = min(nr, totalCols - col)
      let bPanel = packedB + jp * panelStride
      let panelBias = bias.map { $0 + col }
      var ir = 0
      while ir < rows {
        let tileRows = min(mr, rows - ir)
        let cTile = c + ir * ldc + col
        let aPanel = packedA + ir * depth
        if tileRows == mr && cols == nr {
          microKernel(depth: depth, a: aPanel, b: bPanel, c: cTile, ldc: ldc, overwrite: overwrite, bias: panelBias)
        } else {
          edgeKernel(
            depth: depth, a: aPanel, b: bPanel, c: cTile, ldc: ldc, rows: tileRows, cols: cols, overwrite: overwrite,
            bias: panelBias)
        }
        ir += mr
      }
    }
  }

  /// Splits `panels` column panels into `parts` contiguous ranges.
  @inline(__always)
  static func panelRange(part: Int, parts: Int, panels: Int) -> Range<Int> {
    (part * panels / parts)..<((part + 1) * panels / parts)
  }

  /// The number of parts worth running for an `m×n×k` product: one per thread when there is enough work.
  static func partCount(m: Int, n: Int, k: Int, threads: Int) -> Int {
    let panels = (n + nr - 1) / nr
    // Below ~2 MFLOP the hand-off costs more than it saves.
    if threads <= 1 || m * n * k < 1 << 20 { return 1 }
    return max(1, min(threads, panels))
  }

  /// `C[m×n] += A[m×k] · B[k×n]`, packing both operands; C has row stride `ldc`.
  static func multiply(
    m: Int, n: Int, k: Int, a: MatrixOperand, b: MatrixOperand, c: UnsafeMutablePointer<Float>, ldc: Int,
    threads: Int = WorkerPool.shared.threadCount
  ) {
    if m == 0 || n == 0 || k == 0 { return }
    let parts = partCount(m: m, n: n, k: k, threads: threads)
    let panels = (n + nr - 1) / nr
    if parts == 1 {
      multiplyPanels(m: m, n: n, k: k, a: a, b: b, c: c, ldc: ldc, panels: 0..<panels)
      return
    }
    let shared = SharedOperands(a: a, b: b, c: SharedPointer(c))
    WorkerPool.shared.run(parts: parts) { part in
      multiplyPanels(
        m: m, n: n, k: k, a: shared.a, b: shared.b, c: shared.c.pointer, ldc: ldc,
        panels: panelRange(part: part, parts: parts, panels: panels))
    }
  }

  static func multiplyPanels(
    m: Int, n: Int, k: Int, a: MatrixOperand, b: MatrixOperand, c: UnsafeMutablePointer<Float>, ldc: Int,
    panels: Range<Int>
  ) {
    if panels.isEmpty { return }
    // Equal chunks (144 panels → 2×72, not 128 + 16): each chunk repacks A once.
    let chunkCount = (panels.count + panelsPerChunk - 1) / panelsPerChunk
    let chunk = (panels.count + chunkCount - 1) / chunkCount
    let kb = depthBlock(k)
    withScratch(min(mc, m) * kb + mr * kb) { packedA in
      withScratch(chunk * nr * kb) { packedB in
        var jp = panels.lowerBound
        while jp < panels.upperBound {
          let chunkPanels = min(chunk, panels.upperBound - jp)
          let col0 = jp * nr
          let cols = min(chunkPanels * nr, n - col0)
          var pc = 0
          while pc < k {
            let depth = min(kb, k - pc)
            packB(b, depthStart: pc, depth: depth, colStart: col0, cols: cols, into: packedB)
            var ic = 0
            while ic < m {
              let rows = min(mc, m - ic)
              packA(a, rowStart: ic, rows: rows, depthStart: pc, depth: depth, into: packedA)
              macroKernel(
                rows: rows, depth: depth, packedA: packedA, packedB: packedB, panelStride: depth * nr,
                panelCount: chunkPanels, col0: col0, totalCols: n, c: c + ic * ldc, ldc: ldc)
              ic += mc
            }
            pc += kb
          }
          jp += chunkPanels
        }
      }
    }
  }

  /// `C[m×n] += A[m×k] · B` where B was packed once (a layer's weight); with `overwrite`, `C = A·B + bias` without
  /// reading C first.
  static func multiply(
    m: Int, a: MatrixOperand, b: PackedMatrix, c: UnsafeMutablePointer<Float>, ldc: Int,
    threads: Int = WorkerPool.shared.threadCount, overwrite: Bool = false, bias: UnsafePointer<Float>? = nil
  ) {
    let n = b.cols
    let k = b.rows
    if m == 0 || n == 0 { return }
    if k == 0 {
      if overwrite { for r in 0..<m { for j in 0..<n { c[r * ldc + j] = bias?[j] ?? 0 } } }
      return
    }
    let parts = partCount(m: m, n: n, k: k, threads: threads)
    if parts == 1 {
      multiplyPacked(m: m, a: a, b: b, c: c, ldc: ldc, panels: 0..<b.panelCount, overwrite: overwrite, bias: bias)
      return
    }
    let shared = SharedOperands(a: a, b: a, c: SharedPointer(c))
    let sharedBias = bias.map { SharedPointer(UnsafeMutablePointer(mutating: $0)) }
    WorkerPool.shared.run(parts: parts) { part in
      multiplyPacked(
        m: m, a: shared.a, b: b, c: shared.c.pointer, ldc: ldc,
        panels: panelRange(part: part, parts: parts, panels: b.panelCount), overwrite: overwrite,
        bias: sharedBias.map { UnsafePointer($0.pointer) })
    }
  }

  static func multiplyPacked(
    m: Int, a: MatrixOperand, b: PackedMatrix, c: UnsafeMutablePointer<Float>, ldc: Int, panels: Range<Int>,
    overwrite: Bool = false, bias: UnsafePointer<Float>? = nil
  ) {
    if panels.isEmpty { return }
    let k = b.rows
    let kb = b.depthBlock
    withScratch(min(mc, m) * kb + mr * kb) { packedA in
      var pc = 0
      while pc < k {
        let depth = min(kb, k - pc)
        var ic = 0
        while ic < m {
          let rows = min(mc, m - ic)
          packA(a, rowStart: ic, rows: rows, depthStart: pc, depth: depth, into: packedA)
          macroKernel(
            rows: rows, depth: depth, packedA: packedA, packedB: b.panel(depthStart: pc, panel: panels.lowerBound),
            panelStride: depth * nr, panelCount: panels.count, col0: panels.lowerBound * nr, totalCols: b.cols,
            c: c + ic * ldc, ldc: ldc, overwrite: overwrite && pc == 0, bias: pc == 0 ? bias : nil)
          ic += mc
        }
        pc += kb
      }
    }
  }
}

/// Operands captured by pool workers.
///
/// Invariant: the pointers are read-only except `c`, whose column ranges the workers split disjointly, and the
/// submitting `GEMM.multiply` call keeps all of them alive until every worker has finished.
struct SharedOperands: @unchecked Sendable {
  // Invariant: only `c` is written, in disjoint column ranges; the submitting call outlives every access.
  let a: MatrixOperand
  let b: MatrixOperand
  let c: SharedPointer<Float>
}

/// A right-hand matrix packed once into the GEMM's panel layout, for weights used in every forward.
///
/// Layout: depth blocks of ``depthBlock`` rows; inside a block, `nr`-column panels of `depth × nr` values each, columns
/// zero-padded to a multiple of `nr`.
final class PackedMatrix: @unchecked Sendable {
  // Invariant: `storage` is written only in `init` and freed in `deinit`; afterwards it is read-only.
  let rows: Int
  let cols: Int
  let panelCount: Int
  /// The depth block the panels were packed with (``GEMM/depthBlock(_:)`` of `rows`).
  let depthBlock: Int
  private let storage: UnsafeMutablePointer<Float>

  /// Packs `B[rows×cols]` given as a strided operand.
  init(rows: Int, cols: Int, from b: MatrixOperand) {
    self.rows = rows
    self.cols = cols
    panelCount = (cols + GEMM.nr - 1) / GEMM.nr
    depthBlock = GEMM.depthBlock(rows)
    let count = max(rows * panelCount * GEMM.nr, 16)
    storage = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64)
      .bindMemory(to: Float.self, capacity: count)
    var pc = 0
    while pc < rows {
      let depth = min(depthBlock, rows - pc)
      GEMM.packB(b, depthStart: pc, depth: depth, colStart: 0, cols: cols, into: storage + pc * panelCount * GEMM.nr)
      pc += depthBlock
    }
  }

  /// Packs `Wᵀ` for a PyTorch `Linear` weight `W[out×in]` stored row-major, so `y = x·Wᵀ`.
  convenience init(transposing weight: UnsafePointer<Float>, outFeatures: Int, inFeatures: Int) {
    self.init(
      rows: inFeatures, cols: outFeatures, from: MatrixOperand(weight, rowStride: 1, colStride: inFeatures))
  }

  deinit { storage.deallocate() }

  /// The first value of panel `panel` in the depth block starting at `depthStart`.
  @inline(__always)
  func panel(depthStart: Int, panel: Int) -> UnsafePointer<Float> {
    let depth = min(depthBlock, rows - depthStart)
    return UnsafePointer(storage + depthStart * panelCount * GEMM.nr + panel * depth * GEMM.nr)
  }
}
