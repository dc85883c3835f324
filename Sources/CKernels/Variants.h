// The per-variant tables, defined in Kernels+<Variant>.c; private to this target.
#ifndef CKERNELS_VARIANTS_H
#define CKERNELS_VARIANTS_H
#include "CKernels.h"

extern const ck_kernels ck_portable_kernels;
#if defined(__x86_64__)
extern const ck_kernels ck_avx2_kernels;
extern const ck_kernels ck_avx512_kernels;
#endif

#endif
