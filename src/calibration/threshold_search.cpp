// SPDX-License-Identifier: MIT
// Per-channel threshold refinement by quantization error.
#include "neurocuda/calibration/threshold_search.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "neurocuda/error.h"

namespace neurocuda::calibration {
namespace {

// Bin k covers the floats whose bit pattern >> 16 is kFirst + k: exponent and 7 mantissa bits.
constexpr uint32_t kFirst = (127u - 24u) << 7;  // 2^-24
constexpr uint32_t kLast = (127u + 24u) << 7;   // 2^24
constexpr uint32_t kBins = kLast - kFirst;

float from_bits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// Centre of bin k (bin 0 stands for zero and everything below 2^-24).
double centre(uint32_t k) {
  if (k == 0) return 0.0;
  const double lo = from_bits((kFirst + k) << 16), hi = from_bits((kFirst + k + 1) << 16);
  return 0.5 * (lo + hi);
}

} // namespace

double quantization_error(double a, double theta, int timesteps) {
  const double t = static_cast<double>(timesteps);
  const double spikes = std::min(t, std::floor(t * a / theta + 0.5));
  return a - theta / t * std::max(spikes, 0.0);
}

ChannelHistogram::ChannelHistogram(int64_t channels)
    : channels_(channels), counts_(static_cast<size_t>(channels) * kBins, 0u) {}

void ChannelHistogram::add(const float *data, int64_t n, int64_t plane) {
  for (int64_t c = 0; c < channels_; ++c) {
    uint32_t *h = counts_.data() + static_cast<size_t>(c) * kBins;
    for (int64_t i = 0; i < n; ++i) {
      const float *p = data + (i * channels_ + c) * plane;
      for (int64_t k = 0; k < plane; ++k) {
        uint32_t bits;
        std::memcpy(&bits, &p[k], sizeof bits);
        uint32_t key = bits >> 16;
        key = key >= 0x8000u ? 0u : key;                      // negative (and -0): zero
        key = std::min(std::max(key, kFirst), kLast - 1) - kFirst;
        ++h[key];
      }
    }
  }
}

double ChannelHistogram::error(int64_t channel, double theta, int timesteps) const {
  const uint32_t *h = counts_.data() + static_cast<size_t>(channel) * kBins;
  double sum = 0;
  for (uint32_t k = 1; k < kBins; ++k)
    if (h[k]) {
      const double e = quantization_error(centre(k), theta, timesteps);
      sum += static_cast<double>(h[k]) * e * e;
    }
  return sum;
}

float ChannelHistogram::best_threshold(int64_t channel, float start, int timesteps, double *error_out) const {
  NEUROCUDA_CHECK(channel >= 0 && channel < channels_) << "channel " << channel;
  NEUROCUDA_CHECK(timesteps > 0 && start > 0) << "timesteps " << timesteps << " start " << start;
  float best = start;
  double best_error = error(channel, start, timesteps);
  for (int j = -32; j <= 32; ++j) {
    const float theta = static_cast<float>(static_cast<double>(start) * std::exp2(j / 32.0));
    const double e = error(channel, theta, timesteps);
    if (e < best_error) {
      best_error = e;
      best = theta;
    }
  }
  if (error_out) *error_out = best_error;
  return best;
}

} // namespace neurocuda::calibration
