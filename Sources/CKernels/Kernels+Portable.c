// The portable variant: whatever the build's target flags allow (SSE2 on baseline x86-64, NEON on arm64), written
// with generic four-lane vectors. A 6×8 SGEMM tile keeps its 12 accumulators within SSE2's 16 registers.
#include "Variants.h"

#define CK_MR 6
#define CK_NR 8
#define CK_W 4

#include "RowKernels.inc"
#include "MicroKernel.inc"
#include "SGEMM.inc"

#define CK_TABLE ck_portable_kernels
#define CK_NAME "portable"
#define CK_DESCRIPTION "SGEMM 6x8 generic vectors"
#define CK_KC 512
#include "Table.inc"
