// SPDX-License-Identifier: MIT
// Layer-wise bias correction of a converted network (after Li et al., 2021, "A Free Lunch From ANN").
#pragma once

#include <cstdint>
#include <functional>

#include "neurocuda/backend.h"
#include "neurocuda/data/dataset.h"
#include "neurocuda/frontend/torch_model.h"
#include "neurocuda/ir/graph.h"

namespace neurocuda::calibration {

/// Options of the correction.
struct BiasCorrectionOptions {
  int timesteps = 0;       ///< T the network is corrected for (0 = off)
  int64_t samples = 512;   ///< calibration samples used (unlabelled)
  int threads = 0;
  int rounds = 1;          ///< correction steps per population; each after the first refines the shift
  Precision precision = Precision::Fp32;  ///< numeric mode of the SNN runs that measure the rates
};

/// For each IF population in order, runs the folded network on the CPU backend for T steps and
/// shifts the bias feeding each channel by the gap between the ANN's mean clipped activation
/// (in units of the threshold) and the SNN's mean spike rate, `rounds` times (each later round
/// scales its step by the response the previous one measured; with rounds > 1 one more run
/// measures the last step and each channel keeps its best measured bias). Returns the number of populations
/// corrected. `graph` must be converted (fold_thresholds done). Throws UserError on bad data.
int correct_biases(ir::Graph &graph, const frontend::TorchModel &model, data::Dataset &data,
                   const BiasCorrectionOptions &options, const std::function<void(int, int)> &progress = {});

} // namespace neurocuda::calibration
