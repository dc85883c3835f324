// The AVX-512 variant: a 12×32 SGEMM tile (24 zmm accumulators) and 16-lane row kernels. Every function in this file
// is compiled for AVX-512F/VL/BW/DQ + FMA + F16C by the pragma, and runs only after Dispatch.c checked the CPU.
#if defined(__x86_64__)
#include <immintrin.h>

#include "Variants.h"

#pragma clang attribute push(__attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,f16c"))), \
                             apply_to = function)

#define CK_MR 12
#define CK_NR 32
#define CK_W 16
#define CK_HALF_CONVERT 1

#define ROW(i)                                                                                                        \
  {                                                                                                                   \
    const __m512 av = _mm512_set1_ps(a[i]);                                                                           \
    c##i##0 = _mm512_fmadd_ps(av, b0, c##i##0);                                                                      \
    c##i##1 = _mm512_fmadd_ps(av, b1, c##i##1);                                                                      \
  }
#define OUT(i)                                                                                                        \
  {                                                                                                                   \
    float *row = c + (i) * ldc;                                                                                       \
    if (overwrite) {                                                                                                  \
      _mm512_storeu_ps(row, _mm512_add_ps(c##i##0, lo));                                                              \
      _mm512_storeu_ps(row + 16, _mm512_add_ps(c##i##1, hi));                                                         \
    } else {                                                                                                          \
      _mm512_storeu_ps(row, _mm512_add_ps(_mm512_loadu_ps(row), c##i##0));                                            \
      _mm512_storeu_ps(row + 16, _mm512_add_ps(_mm512_loadu_ps(row + 16), c##i##1));                                  \
    }                                                                                                                 \
  }

static inline __attribute__((always_inline)) void micro(
  long depth, const float *a, const float *b, float *c, long ldc, int overwrite, const float *bias) {
  __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  __m512 c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
  __m512 c80 = c00, c81 = c00, c90 = c00, c91 = c00, c100 = c00, c101 = c00, c110 = c00, c111 = c00;
  for (long p = 0; p < depth; p++) {
    const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
    _mm_prefetch((const char *)(b + 8 * CK_NR), _MM_HINT_T0);
    ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5) ROW(6) ROW(7) ROW(8) ROW(9) ROW(10) ROW(11)
    a += CK_MR;
    b += CK_NR;
  }
  __m512 lo = _mm512_setzero_ps(), hi = lo;
  if (overwrite && bias) {
    lo = _mm512_loadu_ps(bias);
    hi = _mm512_loadu_ps(bias + 16);
  }
  OUT(0) OUT(1) OUT(2) OUT(3) OUT(4) OUT(5) OUT(6) OUT(7) OUT(8) OUT(9) OUT(10) OUT(11)
}

#include "RowKernels.inc"
#include "SGEMM.inc"

#pragma clang attribute pop

const ck_kernels ck_avx512_kernels = {
  .name = "avx512",
  .sgemm_description = "SGEMM 12x32 AVX-512F FMA",
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
