// SPDX-License-Identifier: MIT
// Bit-for-bit comparison of two runs of the same network (cross-backend verification).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "neurocuda/backend.h"

namespace neurocuda::driver {

/// Where two runs first differ.
struct Mismatch {
  int64_t sample = -1;   ///< index within the compared samples
  int timestep = 0;      ///< 1-based; 0 for the readout
  std::string layer;     ///< population name, or "readout"
  int64_t neuron = -1;   ///< PyTorch (CHW) index within the population, or the class
};

/// Totals of a comparison.
struct Comparison {
  uint64_t comparisons = 0;  ///< spike bits and readout values compared
  uint64_t mismatches = 0;
  Mismatch first;            ///< valid when mismatches > 0
};

/// Compares traces and exact readouts of two runs over the same samples and T (record_trace must
/// have been on); `sample_offset` is added to reported sample indices. Throws InternalError if the
/// runs are not comparable.
void compare_runs(const RunResult &a, const RunResult &b, const std::vector<LayerInfo> &layers, int timesteps,
                  int64_t sample_offset, Comparison &total);

} // namespace neurocuda::driver
