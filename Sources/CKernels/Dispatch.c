// CPU detection: which variants this processor and its operating system can run.
#include "Variants.h"

#if defined(__x86_64__)
#include <cpuid.h>

// XCR0: the register state the OS saves on a context switch. A CPU may have AVX-512 that the OS does not enable.
static uint64_t read_xcr0(void) {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return ((uint64_t)hi << 32) | lo;
}

static int cpu_supports(int variant) {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
  const int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, f16c = (c >> 29) & 1;
  if (!(fma && osxsave && avx && f16c)) return 0;
  const uint64_t xcr0 = read_xcr0();
  if ((xcr0 & 0x6) != 0x6) return 0;  // XMM and YMM state
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
  const int avx2 = (b >> 5) & 1;
  if (variant == CK_AVX2) return avx2;
  const int avx512f = (b >> 16) & 1, avx512dq = (b >> 17) & 1, avx512bw = (b >> 30) & 1, avx512vl = (b >> 31) & 1;
  if (variant == CK_AVX512) {
    return avx2 && avx512f && avx512dq && avx512bw && avx512vl && (xcr0 & 0xE6) == 0xE6;  // + opmask, ZMM state
  }
  return 0;
}
#endif

const ck_kernels *ck_variant(int variant) {
  switch (variant) {
  case CK_PORTABLE: return &ck_portable_kernels;
#if defined(__x86_64__)
  case CK_AVX2: return cpu_supports(CK_AVX2) ? &ck_avx2_kernels : 0;
  case CK_AVX512: return cpu_supports(CK_AVX512) ? &ck_avx512_kernels : 0;
#endif
  default: return 0;
  }
}
