// SPDX-License-Identifier: MIT
// `neurocuda loihi2 trace`: one Dense -> LIF population stepped under the Loihi 2 equations.
#pragma once

#include <string>

namespace neurocuda::backends::loihi2 {

/// Runs a conformance case (JSON text, schema in docs/loihi2.md) and returns the trace as JSON text:
/// w_eff, and a_in, u, v, s per timestep. Throws UserError naming any missing or out-of-range field.
std::string run_trace_case(const std::string &case_json);

} // namespace neurocuda::backends::loihi2
