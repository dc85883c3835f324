import CKernels
import GraftCore

/// One instruction-set variant of the engine's C kernels (`CKernels`): the SGEMM macro-kernel with its register tile,
/// and the row kernels.
///
/// The variant is chosen once per process (``active``): the widest one this CPU and its operating system support, or
/// the one `GRAFT_KERNELS` names (`portable`, `avx2`, `avx512`) when the CPU supports it. A build needs no target
/// flags for this: each variant is compiled with its own per-function `target` attribute.
struct KernelSet: @unchecked Sendable {
  // Invariant: `table` points at a `const` static table in CKernels, never written and never freed.
  let table: UnsafePointer<ck_kernels>

  /// The variants in order of preference, widest last.
  enum Variant: Int32, CaseIterable, Sendable {
    case portable = 0
    case avx2 = 1
    case avx512 = 2

    /// The name `GRAFT_KERNELS` takes.
    var name: String {
      switch self {
      case .portable: "portable"
      case .avx2: "avx2"
      case .avx512: "avx512"
      }
    }
  }

  /// The kernels of `variant`, or `nil` when this CPU or operating system cannot run them.
  init?(_ variant: Variant) {
    guard let table = ck_variant(variant.rawValue) else { return nil }
    self.table = table
  }

  /// Every variant this CPU can run, portable first.
  static var supported: [KernelSet] { Variant.allCases.compactMap { KernelSet($0) } }

  /// The kernels the engine uses, and why: the widest supported, or the one `GRAFT_KERNELS` asked for.
  static let selection: (kernels: KernelSet, note: String?) = {
    let widest = supported.last ?? portable
    guard let requested = FileSystem.environment("GRAFT_KERNELS"), !requested.isEmpty else { return (widest, nil) }
    guard let variant = Variant.allCases.first(where: { $0.name == requested }) else {
      return (widest, "GRAFT_KERNELS=\(requested) is not one of portable, avx2, avx512; ignored")
    }
    guard let kernels = KernelSet(variant) else {
      return (widest, "GRAFT_KERNELS=\(requested) is not supported by this CPU; ignored")
    }
    return (kernels, "chosen by GRAFT_KERNELS")
  }()

  /// The kernels the engine uses (see ``selection``).
  static var active: KernelSet { selection.kernels }

  /// The portable kernels, which every CPU runs.
  static var portable: KernelSet {
    // ck_variant(CK_PORTABLE) never returns NULL.
    KernelSet(unchecked: ck_variant(Variant.portable.rawValue).unsafelyUnwrapped)
  }

  private init(unchecked table: UnsafePointer<ck_kernels>) { self.table = table }

  /// `portable`, `avx2` or `avx512`.
  var name: String { String(cString: table.pointee.name) }
  /// The SGEMM micro-kernel, such as `SGEMM 12x32 AVX-512F FMA`.
  var sgemmDescription: String { String(cString: table.pointee.sgemm_description) }
  /// Rows of packed A per micro-kernel call.
  var mr: Int { table.pointee.mr }
  /// Columns of packed B per micro-kernel call.
  var nr: Int { table.pointee.nr }
  /// The largest depth block.
  var kc: Int { table.pointee.kc }

  /// The depth block for a product of depth `k`: equal blocks of at most ``kc``.
  ///
  /// 768 becomes 2×384 rather than 512 + 256, since every block costs one read-modify-write pass over C.
  func depthBlock(_ k: Int) -> Int {
    let blocks = max(1, (k + kc - 1) / kc)
    return (k + blocks - 1) / blocks
  }

  /// Packs rows `i0..<i0+rows` and depth `p0..<p0+depth` of A into `mr`-row panels, zero-padding the last.
  @inline(__always)
  func packA(
    _ a: MatrixOperand, rowStart i0: Int, rows: Int, depthStart p0: Int, depth: Int,
    into dst: UnsafeMutablePointer<Float>
  ) {
    table.pointee.pack_a(a.base + i0 * a.rowStride + p0 * a.colStride, a.rowStride, a.colStride, rows, depth, dst)
  }

  /// Packs depth `p0..<p0+depth` and columns `j0..<j0+cols` of B into `nr`-column panels, zero-padding the last.
  @inline(__always)
  func packB(
    _ b: MatrixOperand, depthStart p0: Int, depth: Int, colStart j0: Int, cols: Int,
    into dst: UnsafeMutablePointer<Float>
  ) {
    table.pointee.pack_b(b.base + p0 * b.rowStride + j0 * b.colStride, b.rowStride, b.colStride, depth, cols, dst)
  }

  /// `C += A·B` (or `C = A·B + bias`) for a packed A block of `rows` rows and `panelCount` packed B panels; see
  /// `ck_kernels.sgemm_macro`.
  @inline(__always)
  func macroKernel(
    rows: Int, depth: Int, packedA: UnsafePointer<Float>, packedB: UnsafePointer<Float>, panelStride: Int,
    panelCount: Int, col0: Int, totalCols: Int, c: UnsafeMutablePointer<Float>, ldc: Int, overwrite: Bool = false,
    bias: UnsafePointer<Float>? = nil
  ) {
    table.pointee.sgemm_macro(
      rows, depth, packedA, packedB, panelStride, panelCount, col0, totalCols, c, ldc, overwrite ? 1 : 0, bias)
  }

  // The row kernels, one row block per call; see CKernels.h for each contract.

  @inline(__always)
  func softmax(_ x: UnsafeMutablePointer<Float>, rows: Int, width: Int, stride: Int, scale: Float) {
    table.pointee.softmax(x, rows, width, stride, scale)
  }

  @inline(__always)
  func layerNorm(
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, width: Int, xStride: Int, yStride: Int,
    gamma: UnsafePointer<Float>?, beta: UnsafePointer<Float>?, eps: Float
  ) {
    table.pointee.layer_norm(x, y, rows, width, xStride, yStride, gamma, beta, eps)
  }

  @inline(__always)
  func rmsNorm(
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, width: Int, xStride: Int, yStride: Int,
    gamma: UnsafePointer<Float>?, eps: Float
  ) {
    table.pointee.rms_norm(x, y, rows, width, xStride, yStride, gamma, eps)
  }

  @inline(__always)
  func gelu(_ x: UnsafeMutablePointer<Float>, count: Int, approximateTanh: Bool) {
    table.pointee.gelu(x, count, approximateTanh ? 1 : 0)
  }

  @inline(__always)
  func silu(_ x: UnsafeMutablePointer<Float>, count: Int) { table.pointee.silu(x, count) }

  @inline(__always)
  func siluMultiply(
    gate: UnsafePointer<Float>, up: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int
  ) {
    table.pointee.silu_mul(gate, up, out, count)
  }

  @inline(__always)
  func float16ToFloat32(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) {
    table.pointee.f16_to_f32(src, dst, count)
  }

  @inline(__always)
  func bfloat16ToFloat32(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) {
    table.pointee.bf16_to_f32(src, dst, count)
  }
}
