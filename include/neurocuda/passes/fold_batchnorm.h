// SPDX-License-Identifier: MIT
// Pass fold_batchnorm.
#pragma once

#include "neurocuda/ir/graph.h"
#include "neurocuda/passes/pass_context.h"

namespace neurocuda::passes {

/// Folds a batch_norm into the conv2d/linear that feeds only it (freezing folds most; traced graphs keep some).
void fold_batchnorm(ir::Graph &graph, const PassContext &ctx);

} // namespace neurocuda::passes
