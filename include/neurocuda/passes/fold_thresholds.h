// SPDX-License-Identifier: MIT
// Pass fold_thresholds.
#pragma once

#include "neurocuda/ir/graph.h"
#include "neurocuda/passes/pass_context.h"

namespace neurocuda::passes {

/// Folds each IF population's per-channel thresholds into the weights feeding and leaving it, so every neuron has threshold 1.
void fold_thresholds(ir::Graph &graph, const PassContext &ctx);

} // namespace neurocuda::passes
