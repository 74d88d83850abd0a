// SPDX-License-Identifier: MIT
// Pass move_maxpool_before_relu.
#pragma once

#include "neurocuda/ir/graph.h"
#include "neurocuda/passes/pass_context.h"

namespace neurocuda::passes {

/// Swaps relu -> max_pool2d into max_pool2d -> relu, exact in the ANN, so the neuron fires after pooling.
void move_maxpool_before_relu(ir::Graph &graph, const PassContext &ctx);

} // namespace neurocuda::passes
