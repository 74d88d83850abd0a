// SPDX-License-Identifier: MIT
// The widest x86 instruction set this process's vectorised loops may use.
#pragma once

namespace neurocuda::util {

enum class CpuIsa { Sse, Avx2, Avx512 };

/// The widest set this CPU has among SSE4.2, AVX2 and AVX-512 (F, BW, VL, DQ and VNNI together),
/// capped by NEUROCUDA_CPU_ISA=avx2|sse (NEUROCUDA_CPU_BASELINE=1: sse). An unknown value is ignored
/// with a warning on stderr. Decided once per process. Every choice gives the same results bit for
/// bit (the CPU backend's kernels, calibration's percentile scan); the cap is there for comparing
/// their speed and for the tests, which run each.
CpuIsa cpu_isa();

} // namespace neurocuda::util
