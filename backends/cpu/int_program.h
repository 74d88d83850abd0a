// SPDX-License-Identifier: MIT
// Internal to the CPU backend: the integer-mode program.
#pragma once

#include <memory>

#include "neurocuda/backend.h"
#include "neurocuda/quantize/quantize.h"

namespace neurocuda::backends::cpu {

/// Lays out a quantized network for integer execution on the CPU. Without fast, the plain int64
/// program (cpu-reference). With fast: time-varying convolutions and linear layers whose accumulators
/// fit 31 bits take the 32-bit event kernels or, with 8-bit weights and a dense enough step, the
/// dense 8-bit kernel (sparse.h); values are int32 when every node's bound allows, and neuron
/// updates and running max-pools are vectorised (docs/integer-mode.md).
std::unique_ptr<Program> make_int_program(const quant::QGraph &graph, bool fast);

} // namespace neurocuda::backends::cpu
