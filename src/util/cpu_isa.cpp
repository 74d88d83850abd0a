// SPDX-License-Identifier: MIT
#include "neurocuda/util/cpu_isa.h"

#include <cstdio>
#include <cstdlib>
#include <string>

namespace neurocuda::util {

CpuIsa cpu_isa() {
  static const CpuIsa chosen = [] {
    __builtin_cpu_init();
    CpuIsa cpu = CpuIsa::Sse;
    if (__builtin_cpu_supports("avx2")) cpu = CpuIsa::Avx2;
    if (cpu == CpuIsa::Avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vnni"))
      cpu = CpuIsa::Avx512;
    const char *cap = std::getenv("NEUROCUDA_CPU_ISA");
    const std::string want = cap ? cap : "";
    if (!want.empty() && want != "sse" && want != "avx2" && want != "avx512")
      std::fprintf(stderr, "warning: NEUROCUDA_CPU_ISA=%s is not avx512, avx2 or sse; ignored\n", cap);
    if (std::getenv("NEUROCUDA_CPU_BASELINE") || want == "sse") return CpuIsa::Sse;
    if (want == "avx2" && cpu == CpuIsa::Avx512) return CpuIsa::Avx2;
    return cpu;
  }();
  return chosen;
}

} // namespace neurocuda::util
