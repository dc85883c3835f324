// The AVX2 variant: a 6×16 SGEMM tile (12 ymm accumulators) and 8-lane row kernels, compiled for AVX2 + FMA + F16C
// by the pragma; runs only after Dispatch.c checked the CPU.
#if defined(__x86_64__)
#include <immintrin.h>

#include "Variants.h"

#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)

#define CK_MR 6
#define CK_NR 16
#define CK_W 8
#define CK_HALF_CONVERT 1

#define ROW(i)                                                                                                        \
  {                                                                                                                   \
    const __m256 av = _mm256_broadcast_ss(a + (i));                                                                   \
    c##i##0 = _mm256_fmadd_ps(av, b0, c##i##0);                                                                      \
    c##i##1 = _mm256_fmadd_ps(av, b1, c##i##1);                                                                      \
  }
#define OUT(i)                                                                                                        \
  {                                                                                                                   \
    float *row = c + (i) * ldc;                                                                                       \
    if (overwrite) {                                                                                                  \
      _mm256_storeu_ps(row, _mm256_add_ps(c##i##0, lo));                                                              \
      _mm256_storeu_ps(row + 8, _mm256_add_ps(c##i##1, hi));                                                          \
    } else {                                                                                                          \
      _mm256_storeu_ps(row, _mm256_add_ps(_mm256_loadu_ps(row), c##i##0));                                            \
      _mm256_storeu_ps(row + 8, _mm256_add_ps(_mm256_loadu_ps(row + 8), c##i##1));                                    \
    }                                                                                                                 \
  }

static inline __attribute__((always_inline)) void micro(
  long depth, const float *a, const float *b, float *c, long ldc, int overwrite, const float *bias) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  for (long p = 0; p < depth; p++) {
    const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
    ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5)
    a += CK_MR;
    b += CK_NR;
  }
  __m256 lo = _mm256_setzero_ps(), hi = lo;
  if (overwrite && bias) {
    lo = _mm256_loadu_ps(bias);
    hi = _mm256_loadu_ps(bias + 8);
  }
  OUT(0) OUT(1) OUT(2) OUT(3) OUT(4) OUT(5)
}

#include "RowKernels.inc"
#include "SGEMM.inc"

#pragma clang attribute pop

const ck_kernels ck_avx2_kernels = {
  .name = "avx2",
  .sgemm_description = "SGEMM 6x16 AVX2 FMA",
  .mr = CK_MR,
  .nr = CK_NR,
  .kc = 512,
  .pack_a = pack_a,
  .pack_b = pack_b,
  .sgemm_macro = sgemm_macro,
  .softmax = softmax,
  .layer_norm = layer_norm,
  .rms_norm = rms_norm,
  .gelu = gelu,
  .silu = silu,
  .silu_mul = silu_mul,
  .f16_to_f32 = f16_to_f32,
  .bf16_to_f32 = bf16_to_f32,
};
#endif
