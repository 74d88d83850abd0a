// SPDX-License-Identifier: MIT
// Cross-backend comparison of spike traces and readouts.
#include "neurocuda/driver/compare.h"

#include "neurocuda/error.h"

namespace neurocuda::driver {

void compare_runs(const RunResult &a, const RunResult &b, const std::vector<LayerInfo> &layers, int timesteps,
                  int64_t sample_offset, Comparison &total) {
  NEUROCUDA_CHECK(a.trace.size() == b.trace.size() && a.samples == b.samples) << "runs cover different samples";
  NEUROCUDA_CHECK(a.readout_exact.size() == b.readout_exact.size()) << "runs have different readouts";
  int64_t neurons = 0;
  for (const auto &l : layers) neurons += l.neurons;
  const uint64_t bits = static_cast<uint64_t>(neurons) * static_cast<uint64_t>(timesteps);
  for (size_t s = 0; s < a.trace.size(); ++s) {
    NEUROCUDA_CHECK(a.trace[s].size() == b.trace[s].size()) << "trace sizes differ";
    total.comparisons += bits;
    for (size_t w = 0; w < a.trace[s].size(); ++w) {
      const uint64_t diff = a.trace[s][w] ^ b.trace[s][w];
      if (!diff) continue;
      total.mismatches += static_cast<uint64_t>(__builtin_popcountll(diff));
      if (total.first.sample >= 0) continue;
      const int64_t bit = static_cast<int64_t>(w) * 64 + __builtin_ctzll(diff);
      total.first.sample = sample_offset + static_cast<int64_t>(s);
      total.first.timestep = static_cast<int>(bit / neurons) + 1;
      int64_t within = bit % neurons;
      for (const auto &l : layers) {
        if (within < l.neurons) {
          total.first.layer = l.name;
          total.first.neuron = within;
          break;
        }
        within -= l.neurons;
      }
    }
  }
  const auto classes = static_cast<size_t>(a.classes);
  total.comparisons += a.readout_exact.size();
  for (size_t k = 0; k < a.readout_exact.size(); ++k) {
    if (a.readout_exact[k] == b.readout_exact[k]) continue;
    ++total.mismatches;
    if (total.first.sample < 0) {
      total.first.sample = sample_offset + static_cast<int64_t>(k / classes);
      total.first.timestep = 0;
      total.first.layer = "readout";
      total.first.neuron = static_cast<int64_t>(k % classes);
    }
  }
}

} // namespace neurocuda::driver
