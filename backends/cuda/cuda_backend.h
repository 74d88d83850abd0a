// SPDX-License-Identifier: MIT
// Factory of the CUDA backend.
#pragma once

#include <memory>

#include "neurocuda/backend.h"

namespace neurocuda::backends::cuda {

/// The CUDA backend: fp32 and integer mode, bit-identical to the CPU backend (docs/conversion.md).
std::unique_ptr<Backend> make_backend();

} // namespace neurocuda::backends::cuda
