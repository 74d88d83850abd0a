// SPDX-License-Identifier: MIT
// The fast path's kernels for CPUs with AVX2 (this file is compiled with -mavx2; sparse.cpp picks it at run time).
#include "cpu/sparse.h"
#define NEUROCUDA_SPARSE_NS avx2
#include "cpu/sparse_kernels.inc"
