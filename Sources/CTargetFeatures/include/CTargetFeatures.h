#ifndef CTARGETFEATURES_H
#define CTARGETFEATURES_H
// The compiler's target macros, as constants Swift can branch on at compile time.
// Baseline x86-64 builds have no FMA: SIMD addProduct would become one libcall per lane,
// so kernels branch on CTF_HAS_FMA and fall back to a separate multiply and add.
#if defined(__FMA__)
#define CTF_HAS_FMA 1
#else
#define CTF_HAS_FMA 0
#endif
#if defined(__F16C__)
#define CTF_HAS_F16C 1
#else
#define CTF_HAS_F16C 0
#endif
#if defined(__AVX2__)
#define CTF_HAS_AVX2 1
#else
#define CTF_HAS_AVX2 0
#endif
#if defined(__AVX512F__)
#define CTF_HAS_AVX512F 1
#else
#define CTF_HAS_AVX512F 0
#endif
static inline int ctf_has_fma(void) { return CTF_HAS_FMA; }
static inline int ctf_has_f16c(void) { return CTF_HAS_F16C; }
static inline int ctf_has_avx2(void) { return CTF_HAS_AVX2; }
static inline int ctf_has_avx512f(void) { return CTF_HAS_AVX512F; }

#endif
