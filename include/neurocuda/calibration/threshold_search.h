// SPDX-License-Identifier: MIT
// Per-channel threshold refinement by quantization error (LTB-style, after Bu et al., 2025).
#pragma once

#include <cstdint>
#include <vector>

namespace neurocuda::calibration {

/// The error an IF neuron with threshold theta and v(0) = theta/2 makes over T steps on a constant
/// input a >= 0: it fires min(T, floor(T a / theta + 1/2)) times, so it reproduces
/// q(a) = theta / T * min(T, floor(T a / theta + 1/2)) and errs by a - q(a) (rounding below theta,
/// clipping above it).
double quantization_error(double a, double theta, int timesteps);

/// Streams non-negative activations of C channels into per-channel histograms with bins of
/// relative width 2^-7 (the float's exponent and top 7 mantissa bits) over [2^-24, 2^24); smaller
/// values count as 0 and larger ones as 2^24. Memory: 24 KiB per channel.
class ChannelHistogram {
public:
  explicit ChannelHistogram(int64_t channels);
  /// Adds n samples of layout [n, C, plane]; values <= 0 count as 0.
  void add(const float *data, int64_t n, int64_t plane);
  /// The threshold among start * 2^(j/32), j = -32..32, with the smallest summed squared
  /// quantization error over channel c's values at T steps; `start` on ties, then the smaller one.
  /// A channel whose values are all 0 keeps `start`.
  float best_threshold(int64_t channel, float start, int timesteps, double *error = nullptr) const;
  /// Summed squared quantization error of channel c at threshold theta and T steps (bin centres).
  double error(int64_t channel, double theta, int timesteps) const;

private:
  int64_t channels_;
  std::vector<uint32_t> counts_;  // [channel][bin]
};

} // namespace neurocuda::calibration
