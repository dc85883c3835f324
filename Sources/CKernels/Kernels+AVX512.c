// The AVX-512 variant: a 12×32 SGEMM tile (24 zmm accumulators) and 16-lane row kernels. Every function in this file
// is compiled for AVX-512F/VL/BW/DQ + FMA + F16C by the pragma, and runs only after Dispatch.c checked the CPU.
#if defined(__x86_64__)
#include "Variants.h"

#pragma clang attribute push(__attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,f16c"))), \
                             apply_to = function)

#define CK_MR 12
#define CK_NR 32
#define CK_W 16
#define CK_HALF_CONVERT 1

#include "RowKernels.inc"
#include "MicroKernel.inc"
#include "SGEMM.inc"

#pragma clang attribute pop

#define CK_TABLE ck_avx512_kernels
#define CK_NAME "avx512"
#define CK_DESCRIPTION "SGEMM 12x32 AVX-512F FMA"
#define CK_KC 512
#include "Table.inc"
#endif
