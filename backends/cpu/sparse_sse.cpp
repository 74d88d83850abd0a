// SPDX-License-Identifier: MIT
// The fast path's kernels for the baseline instruction set (x86-64-v2: SSE4.2).
#include "cpu/sparse.h"
#define NEUROCUDA_SPARSE_NS sse
#include "cpu/sparse_kernels.inc"
