// SPDX-License-Identifier: MIT
// Pass lower_activations.
#pragma once

#include "neurocuda/ir/graph.h"
#include "neurocuda/passes/pass_context.h"

namespace neurocuda::passes {

/// Replaces every relu with an integrate-and-fire population (reset by subtraction, v(0) = theta/2).
void lower_activations(ir::Graph &graph, const PassContext &ctx);

} // namespace neurocuda::passes
