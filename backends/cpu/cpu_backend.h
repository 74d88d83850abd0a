// SPDX-License-Identifier: MIT
// Factory of the CPU backend.
#pragma once

#include <memory>

#include "neurocuda/backend.h"

namespace neurocuda::backends::cpu {

/// The CPU backend ("cpu"): event-driven, parallel over the batch; time-varying convolutions and
/// linear layers take the SIMD sparse-gather fast path (sparse.h).
std::unique_ptr<Backend> make_backend();

/// The same simulation with only the plain scalar scatter ("cpu-reference"): the oracle the fast
/// path is checked against, bit for bit (`neurocuda verify --backends cpu,cpu-reference`).
std::unique_ptr<Backend> make_reference_backend();

} // namespace neurocuda::backends::cpu
