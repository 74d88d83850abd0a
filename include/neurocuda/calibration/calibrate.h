// SPDX-License-Identifier: MIT
// Calibration: sets each IF population's per-channel thresholds from the ANN's activations.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "neurocuda/data/dataset.h"
#include "neurocuda/frontend/torch_model.h"
#include "neurocuda/ir/graph.h"

namespace neurocuda::calibration {

/// How thresholds are chosen.
struct CalibrationOptions {
  std::string method = "percentile";  ///< "percentile" or "max"
  double percentile = 99.99;          ///< for "percentile": nearest-rank percentile
  bool per_layer = false;             ///< one threshold per population instead of one per channel
  int search_timesteps = 0;           ///< > 0: refine each threshold for this T (threshold_search.h)
  int64_t batch = 256;                ///< samples per LibTorch forward
};

/// What calibration saw, for reports.
struct CalibrationSummary {
  int64_t samples = 0;
  int64_t dead_channels = 0;  ///< channels that never activated (given the layer's largest threshold)
  double search_mean_ratio = 0;  ///< with search_timesteps: mean refined / percentile threshold
  double seconds = 0;
};

/// Parses the --percentile flag value: a number in (0, 100] or "max"; throws UserError.
CalibrationOptions parse_percentile_flag(const std::string &text);

/// Parses the --threshold-scope flag value: "channel" or "layer"; throws UserError.
bool parse_scope_is_layer(const std::string &text);

/// Runs the ANN over `data` and writes the "threshold" tensor of every IF node.
/// `progress(done, total)` is called after each batch. Throws UserError on bad data.
CalibrationSummary calibrate(ir::Graph &graph, const frontend::TorchModel &model, data::Dataset &data,
                             const CalibrationOptions &options,
                             const std::function<void(int64_t, int64_t)> &progress = {});

} // namespace neurocuda::calibration
