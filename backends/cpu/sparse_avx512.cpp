// SPDX-License-Identifier: MIT
// The fast path's kernels for CPUs with AVX-512 (F, BW, VL, DQ, VNNI; sparse.cpp picks it at run time): the
// same source as the AVX2 build, compiled with 32 vector registers and mask registers to use. Contraction
// into fused multiply-adds is off (CMakeLists.txt), so float results stay those of the other builds.
#include "cpu/sparse.h"
#define NEUROCUDA_SPARSE_NS avx512
#include "cpu/sparse_kernels.inc"
