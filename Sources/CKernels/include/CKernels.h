#ifndef CKERNELS_H
#define CKERNELS_H
// The engine's hot kernels, compiled once per instruction set and chosen at run time.
//
// Each variant is built from the same sources with a per-function `target` attribute (see Kernels+*.c), so a plain
// `swift build` needs no compiler flags and still runs AVX-512 code on a CPU that has it. `ck_variant` hands out a
// variant only when this CPU and its operating system support it (CPUID and XGETBV).
#include <stdint.h>

#if __has_feature(nullability)
#define CK_NONNULL _Nonnull
#define CK_NULLABLE _Nullable
#else
#define CK_NONNULL
#define CK_NULLABLE
#endif

/// The instruction-set variants, from the most portable up.
enum {
  CK_PORTABLE = 0,
  CK_AVX2 = 1,
  CK_AVX512 = 2,
  CK_VARIANT_COUNT = 3
};

/// One variant's kernels. Every row is independent; none allocates.
typedef struct ck_kernels {
  /// `portable`, `avx2` or `avx512`.
  const char *CK_NONNULL name;
  /// A one-line description of the SGEMM micro-kernel (register tile and instruction set).
  const char *CK_NONNULL sgemm_description;
  /// The register tile: rows of packed A (`mr`) and columns of packed B (`nr`) per micro-kernel call.
  long mr, nr;
  /// The largest depth block the packed panels should use (keeps a B panel in L1 next to an A panel).
  long kc;

  /// Packs `rows` rows and `depth` columns of A (element (i, p) at `a[i·row_stride + p·col_stride]`) into `mr`-row
  /// panels, `depth × mr` each, zero-padding the last.
  void (*CK_NONNULL pack_a)(
    const float *CK_NONNULL a, long row_stride, long col_stride, long rows, long depth, float *CK_NONNULL dst);
  /// Packs `depth` rows and `cols` columns of B into `nr`-column panels, `depth × nr` each, zero-padding the last.
  void (*CK_NONNULL pack_b)(
    const float *CK_NONNULL b, long row_stride, long col_stride, long depth, long cols, float *CK_NONNULL dst);
  /// `C += A·B` (or with `overwrite`, `C = A·B + bias`) for `rows` rows of a packed A block (`mr`-row panels,
  /// `depth` deep) times `panel_count` packed B panels (`nr` columns, `panel_stride` floats apart) starting at column
  /// `col0` of a C with `total_cols` columns and row stride `ldc`. Partial tiles at the edges are handled here.
  void (*CK_NONNULL sgemm_macro)(
    long rows, long depth, const float *CK_NONNULL packed_a, const float *CK_NONNULL packed_b, long panel_stride,
    long panel_count, long col0, long total_cols, float *CK_NONNULL c, long ldc, int overwrite,
    const float *CK_NULLABLE bias);

  /// Softmax of `rows` rows of `width` values (`stride` apart) in place, of `scale · x`.
  void (*CK_NONNULL softmax)(float *CK_NONNULL x, long rows, long width, long stride, float scale);
  /// LayerNorm (biased variance, two passes) of `rows` rows; `x` and `y` may alias. `gamma`/`beta` optional.
  void (*CK_NONNULL layer_norm)(
    const float *CK_NONNULL x, float *CK_NONNULL y, long rows, long width, long x_stride, long y_stride,
    const float *CK_NULLABLE gamma, const float *CK_NULLABLE beta, float eps);
  /// RMSNorm `y = w ⊙ x / sqrt(mean(x²) + eps)` of `rows` rows (`weight` optional); `x` and `y` may alias.
  void (*CK_NONNULL rms_norm)(
    const float *CK_NONNULL x, float *CK_NONNULL y, long rows, long width, long x_stride, long y_stride,
    const float *CK_NULLABLE weight, float eps);
  /// GELU in place: the exact erf form, or with `tanh_form` PyTorch's `approximate='tanh'`.
  void (*CK_NONNULL gelu)(float *CK_NONNULL x, long count, int tanh_form);
  /// SiLU in place, `x / (1 + e^−x)` as torch computes it.
  void (*CK_NONNULL silu)(float *CK_NONNULL x, long count);
  /// `out = silu(gate) ⊙ up` (LLaMA's gated MLP); `out` may alias `gate`.
  void (*CK_NONNULL silu_mul)(
    const float *CK_NONNULL gate, const float *CK_NONNULL up, float *CK_NONNULL out, long count);
  /// IEEE half → float, every value exact (NaN payloads quieted); `src` needs no alignment.
  void (*CK_NONNULL f16_to_f32)(const void *CK_NONNULL src, float *CK_NONNULL dst, long count);
  /// bfloat16 → float, exact; `src` needs no alignment.
  void (*CK_NONNULL bf16_to_f32)(const void *CK_NONNULL src, float *CK_NONNULL dst, long count);
} ck_kernels;

/// The variant `variant` (`CK_PORTABLE` …) when this CPU and OS can run it, else NULL. The portable one always runs.
const ck_kernels *CK_NULLABLE ck_variant(int variant);

#endif
