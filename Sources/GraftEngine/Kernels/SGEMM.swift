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

/// Single-precision matrix multiplication `C += A·B`: packed panels, cache blocking, a register-tile micro-kernel.
///
/// The structure follows GotoBLAS/BLIS: depth is blocked (``KernelSet/depthBlock(_:)``) so a packed B panel (kc×nr)
/// stays in L1 while the packed A block (mc×kc) streams from L2; the micro-kernel (C, one per instruction set, see
/// ``KernelSet``) keeps its mr×nr tile in vector registers. Threads split the columns, so each one owns disjoint tiles
/// of C and packs its own copy of A.
enum GEMM {
  // 204 rows cover a ViT sequence (197 tokens) in one block, so each weight streams from memory once per forward; a
  // multiple of every variant's mr (6 and 12).
  static let mc = 204
  /// Columns packed at once when B is not pre-packed: a 2048-column B block (3 MiB at depth 384) stays in L3, so A is
  /// repacked only once per 2048 columns.
  static let chunkColumns = 2048

  /// Allocates 64-byte-aligned scratch that the packing routines fill.
  @inline(__always)
  static func withScratch<R>(_ count: Int, _ body: (UnsafeMutablePointer<Float>) -> R) -> R {
    let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 16) * 4, alignment: 64)
    defer { raw.deallocate() }
    return body(raw.bindMemory(to: Float.self, capacity: max(count, 16)))
  }

  /// Splits `panels` column panels into `parts` contiguous ranges.
  @inline(__always)
  static func panelRange(part: Int, parts: Int, panels: Int) -> Range<Int> {
    (part * panels / parts)..<((part + 1) * panels / parts)
  }

  /// The number of parts worth running for an `m×n×k` product: one per thread when there is enough work.
  static func partCount(m: Int, n: Int, k: Int, nr: Int, threads: Int) -> Int {
    let panels = (n + nr - 1) / nr
    // Below ~2 MFLOP the hand-off costs more than it saves.
    if threads <= 1 || m * n * k < 1 << 20 { return 1 }
    return max(1, min(threads, panels))
  }

  /// `C[m×n] += A[m×k] · B[k×n]`, packing both operands; C has row stride `ldc`.
  ///
  /// With `overwrite`, `C = A·B + bias` (bias `[n]`, or none) without reading C (which may then be uninitialised).
  /// B is packed with the same depth blocks and panels as a ``PackedMatrix`` of it, so the result is bit-identical
  /// to multiplying by the pre-packed matrix.
  static func multiply(
    m: Int, n: Int, k: Int, a: MatrixOperand, b: MatrixOperand, c: UnsafeMutablePointer<Float>, ldc: Int,
    threads: Int = WorkerPool.shared.threadCount, overwrite: Bool = false, bias: UnsafePointer<Float>? = nil,
    kernels: KernelSet = .active
  ) {
    if m == 0 || n == 0 { return }
    if k == 0 {
      if overwrite { for r in 0..<m { for j in 0..<n { c[r * ldc + j] = bias?[j] ?? 0 } } }
      return
    }
    let parts = partCount(m: m, n: n, k: k, nr: kernels.nr, threads: threads)
    let panels = (n + kernels.nr - 1) / kernels.nr
    if parts == 1 {
      multiplyPanels(
        m: m, n: n, k: k, a: a, b: b, c: c, ldc: ldc, panels: 0..<panels, overwrite: overwrite, bias: bias,
        kernels: kernels)
      return
    }
    let shared = SharedOperands(a: a, b: b, c: SharedPointer(c))
    let sharedBias = bias.map { SharedPointer(UnsafeMutablePointer(mutating: $0)) }
    WorkerPool.shared.run(parts: parts) { part in
      multiplyPanels(
        m: m, n: n, k: k, a: shared.a, b: shared.b, c: shared.c.pointer, ldc: ldc,
        panels: panelRange(part: part, parts: parts, panels: panels), overwrite: overwrite,
        bias: sharedBias.map { UnsafePointer($0.pointer) }, kernels: kernels)
    }
  }

  static func multiplyPanels(
    m: Int, n: Int, k: Int, a: MatrixOperand, b: MatrixOperand, c: UnsafeMutablePointer<Float>, ldc: Int,
    panels: Range<Int>, overwrite: Bool, bias: UnsafePointer<Float>? = nil, kernels: KernelSet
  ) {
    if panels.isEmpty { return }
    let (mr, nr) = (kernels.mr, kernels.nr)
    // Equal chunks (144 panels → 2×72, not 128 + 16): each chunk repacks A once.
    let perChunk = max(1, chunkColumns / nr)
    let chunkCount = (panels.count + perChunk - 1) / perChunk
    let chunk = (panels.count + chunkCount - 1) / chunkCount
    let kb = kernels.depthBlock(k)
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
            kernels.packB(b, depthStart: pc, depth: depth, colStart: col0, cols: cols, into: packedB)
            var ic = 0
            while ic < m {
              let rows = min(mc, m - ic)
              kernels.packA(a, rowStart: ic, rows: rows, depthStart: pc, depth: depth, into: packedA)
              kernels.macroKernel(
                rows: rows, depth: depth, packedA: packedA, packedB: packedB, panelStride: depth * nr,
                panelCount: chunkPanels, col0: col0, totalCols: n, c: c + ic * ldc, ldc: ldc,
                overwrite: overwrite && pc == 0, bias: overwrite && pc == 0 ? bias : nil)
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
    let parts = partCount(m: m, n: n, k: k, nr: b.kernels.nr, threads: threads)
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
    let kernels = b.kernels
    let (mr, nr) = (kernels.mr, kernels.nr)
    let k = b.rows
    let kb = b.depthBlock
    withScratch(min(mc, m) * kb + mr * kb) { packedA in
      var pc = 0
      while pc < k {
        let depth = min(kb, k - pc)
        var ic = 0
        while ic < m {
          let rows = min(mc, m - ic)
          kernels.packA(a, rowStart: ic, rows: rows, depthStart: pc, depth: depth, into: packedA)
          kernels.macroKernel(
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
  /// The depth block the panels were packed with (``KernelSet/depthBlock(_:)`` of `rows`).
  let depthBlock: Int
  /// The kernels whose panel width (`nr`) the storage is laid out for, and which multiply it.
  let kernels: KernelSet
  private let storage: UnsafeMutablePointer<Float>

  /// Packs `B[rows×cols]` given as a strided operand, for `kernels`.
  init(rows: Int, cols: Int, from b: MatrixOperand, kernels: KernelSet = .active) {
    self.rows = rows
    self.cols = cols
    self.kernels = kernels
    panelCount = (cols + kernels.nr - 1) / kernels.nr
    depthBlock = kernels.depthBlock(rows)
    let count = max(rows * panelCount * kernels.nr, 16)
    storage = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64)
      .bindMemory(to: Float.self, capacity: count)
    var pc = 0
    while pc < rows {
      let depth = min(depthBlock, rows - pc)
      kernels.packB(
        b, depthStart: pc, depth: depth, colStart: 0, cols: cols, into: storage + pc * panelCount * kernels.nr)
      pc += depthBlock
    }
  }

  /// Packs `Wᵀ` for a PyTorch `Linear` weight `W[out×in]` stored row-major, so `y = x·Wᵀ`.
  convenience init(
    transposing weight: UnsafePointer<Float>, outFeatures: Int, inFeatures: Int, kernels: KernelSet = .active
  ) {
    self.init(
      rows: inFeatures, cols: outFeatures, from: MatrixOperand(weight, rowStride: 1, colStride: inFeatures),
      kernels: kernels)
  }

  deinit { storage.deallocate() }

  /// The first value of panel `panel` in the depth block starting at `depthStart`.
  @inline(__always)
  func panel(depthStart: Int, panel: Int) -> UnsafePointer<Float> {
    let depth = min(depthBlock, rows - depthStart)
    return UnsafePointer(storage + depthStart * panelCount * kernels.nr + panel * depth * kernels.nr)
  }
}
