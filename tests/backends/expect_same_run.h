// SPDX-License-Identifier: MIT
// Two runs of one compiled network agree bit for bit: every spike of every layer at every timestep
// (from their traces), the predictions, spike counts and synaptic operations. Shared by the
// cross-backend and the CPU fast-path tests.
#pragma once

#include <gtest/gtest.h>

#include "neurocuda/backend.h"
#include "neurocuda/driver/compare.h"

namespace neurocuda::test {

inline void expect_same_run(const RunResult &a, const RunResult &b, const std::vector<LayerInfo> &layers,
                            int timesteps) {
  driver::Comparison cmp;
  driver::compare_runs(a, b, layers, timesteps, 0, cmp);
  EXPECT_GT(cmp.comparisons, 0u);
  EXPECT_EQ(cmp.mismatches, 0u) << "first mismatch: sample " << cmp.first.sample << " layer " << cmp.first.layer
                                << " neuron " << cmp.first.neuron << " t " << cmp.first.timestep;
  EXPECT_EQ(a.predictions, b.predictions);
  EXPECT_EQ(a.spikes, b.spikes);
  EXPECT_EQ(a.synops, b.synops);
}

} // namespace neurocuda::test
