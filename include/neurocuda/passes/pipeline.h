// SPDX-License-Identifier: MIT
// The conversion pipeline: the ordered list of passes, split around calibration.
#pragma once

#include <string>
#include <vector>

#include "neurocuda/ir/graph.h"
#include "neurocuda/passes/pass_context.h"

namespace neurocuda::passes {

/// Names of the passes run before calibration, in order.
std::vector<std::string> pre_calibration_passes();
/// Names of the passes run after calibration, in order.
std::vector<std::string> post_calibration_passes();

/// Rewrites a lowered ANN into an uncalibrated SNN (IF nodes without thresholds).
void run_pre_calibration(ir::Graph &graph, const PassContext &ctx);
/// Folds calibrated thresholds; afterwards every neuron has threshold 1.
void run_post_calibration(ir::Graph &graph, const PassContext &ctx);

/// Replaces every use of value `from` (including the graph output) with `to`.
void replace_all_uses(ir::Graph &graph, int from, int to);

} // namespace neurocuda::passes
