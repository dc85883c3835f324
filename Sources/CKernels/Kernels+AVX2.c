// The AVX2 variant: a 6×16 SGEMM tile (12 ymm accumulators) and 8-lane row kernels, compiled for AVX2 + FMA + F16C
// by the pragma; runs only after Dispatch.c checked the CPU.
#if defined(__x86_64__)
#include "Variants.h"

#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)

#define CK_MR 6
#define CK_NR 16
#define CK_W 8
#define CK_HALF_CONVERT 1

#include "RowKernels.inc"
#include "MicroKernel.inc"
#include "SGEMM.inc"

#pragma clang attribute pop

#define CK_TABLE ck_avx2_kernels
#define CK_NAME "avx2"
#define CK_DESCRIPTION "SGEMM 6x16 AVX2 FMA"
#define CK_KC 512
#include "Table.inc"
#endif
