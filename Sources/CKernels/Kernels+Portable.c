// The portable variant: whatever the build's target flags allow (SSE2 on baseline x86-64, NEON on arm64), written
// with generic four-lane vectors. A 6×8 SGEMM tile keeps its 12 four-lane accumulators within SSE2's 16 registers.
#include "Variants.h"

#define CK_MR 6
#define CK_NR 8
#define CK_W 4

typedef float v4 __attribute__((ext_vector_type(4)));

static inline v4 load4(const float *p) {
  v4 v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}
static inline void store4(float *p, v4 v) { __builtin_memcpy(p, &v, sizeof v); }

static inline __attribute__((always_inline)) void micro(
  long depth, const float *a, const float *b, float *c, long ldc, int overwrite, const float *bias) {
  v4 acc[CK_MR][2] = {{0}};
  for (long p = 0; p < depth; p++) {
    const v4 b0 = load4(b), b1 = load4(b + 4);
#pragma clang loop unroll(full)
    for (int i = 0; i < CK_MR; i++) {
      acc[i][0] += a[i] * b0;
      acc[i][1] += a[i] * b1;
    }
    a += CK_MR;
    b += CK_NR;
  }
  v4 lo = 0, hi = 0;
  if (overwrite && bias) {
    lo = load4(bias);
    hi = load4(bias + 4);
  }
#pragma clang loop unroll(full)
  for (int i = 0; i < CK_MR; i++) {
    float *row = c + i * ldc;
    if (overwrite) {
      store4(row, acc[i][0] + lo);
      store4(row + 4, acc[i][1] + hi);
    } else {
      store4(row, load4(row) + acc[i][0]);
      store4(row + 4, load4(row + 4) + acc[i][1]);
    }
  }
}

#include "RowKernels.inc"
#include "SGEMM.inc"

const ck_kernels ck_portable_kernels = {
  .name = "portable",
  .sgemm_description = "SGEMM 6x8 generic vectors",
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
