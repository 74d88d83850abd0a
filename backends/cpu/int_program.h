// SPDX-License-Identifier: MIT
// Internal to the CPU backend: the integer-mode program.
#pragma once

#include <memory>

#include "neurocuda/backend.h"
#include "neurocuda/quantize/quantize.h"

namespace neurocuda::backends::cpu {

/// Lays out a quantized network for integer execution on the CPU; with fast, time-varying
/// convolutions and linear layers whose accumulators fit 31 bits use the 32-bit fast path (sparse.h).
std::unique_ptr<Program> make_int_program(const quant::QGraph &graph, bool fast);

} // namespace neurocuda::backends::cpu
