// SPDX-License-Identifier: MIT
// Factory of the Loihi 2 simulator backend.
#pragma once

#include <memory>

#include "loihi2/mapping.h"
#include "neurocuda/backend.h"

namespace neurocuda::backends::loihi2 {

/// Fraction by which the mapping lowers each threshold to make up for Loihi's reset to zero
/// (chosen by measurement, docs/loihi2.md).
inline constexpr double kResetCompensation = 0.3;

/// The mapping the backend uses for `options` (--reset-mode, --reset-compensation and their defaults);
/// throws UserError for values out of range.
MappingOptions mapping_options(const CompileOptions &options);

/// The Loihi 2 simulator: the converted network mapped onto CUBA LIF compartments and Dense synapses,
/// bit-accurate to Intel's fixed-point equations, one timestep of delay per hop.
std::unique_ptr<Backend> make_backend();

} // namespace neurocuda::backends::loihi2
