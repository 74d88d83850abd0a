// SPDX-License-Identifier: MIT
// Factory of the CPU backend.
#pragma once

#include <memory>

#include "neurocuda/backend.h"

namespace neurocuda::backends::cpu {

/// The reference CPU backend: fp32, event-driven synapses, parallel over the batch.
std::unique_ptr<Backend> make_backend();

} // namespace neurocuda::backends::cpu
