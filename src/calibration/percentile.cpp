// SPDX-License-Identifier: MIT
// Streaming exact per-channel percentiles.
#include "neurocuda/calibration/percentile.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "neurocuda/error.h"

namespace neurocuda::calibration {

ChannelPercentile::ChannelPercentile(int64_t channels, int64_t values_per_channel, double percentile)
    : channels_(channels), total_(values_per_channel),
      top_(static_cast<size_t>(channels)), floor_(static_cast<size_t>(channels), -std::numeric_limits<float>::infinity()) {
  NEUROCUDA_CHECK(percentile > 0 && percentile <= 100) << "percentile " << percentile;
  NEUROCUDA_CHECK(values_per_channel > 0) << "no values";
  const auto rank = static_cast<int64_t>(std::ceil(percentile / 100.0 * static_cast<double>(total_) - 1e-9));
  keep_ = total_ - std::max<int64_t>(rank, 1) + 1;  // how many of the largest values hold the answer
}

void ChannelPercentile::trim(size_t c) {
  auto &v = top_[c];
  std::nth_element(v.begin(), v.begin() + (keep_ - 1), v.end(), std::greater<float>());
  v.resize(static_cast<size_t>(keep_));
  floor_[c] = *std::min_element(v.begin(), v.end());
}

void ChannelPercentile::add(const float *data, int64_t n, int64_t plane) {
  for (int64_t c = 0; c < channels_; ++c) {
    auto &v = top_[static_cast<size_t>(c)];
    float fl = floor_[static_cast<size_t>(c)];
    for (int64_t i = 0; i < n; ++i) {
      const float *p = data + (i * channels_ + c) * plane;
      // Branch-free: every value is written, and kept (end advances) when it is above the floor or the
      // list is still short; which values pass is data-dependent, too irregular for a predicted branch.
      size_t end = v.size();
      v.resize(end + static_cast<size_t>(plane));
      const size_t short_of = static_cast<size_t>(keep_);
      for (int64_t k = 0; k < plane; ++k) {
        v[end] = p[k];
        end += (p[k] > fl) | (end < short_of);
      }
      v.resize(end);
      if (static_cast<int64_t>(v.size()) > 2 * keep_ + 4096) {
        trim(static_cast<size_t>(c));
        fl = floor_[static_cast<size_t>(c)];
      }
    }
  }
  seen_ += n * plane;
}

std::vector<float> ChannelPercentile::result() {
  NEUROCUDA_CHECK(seen_ == total_) << "percentile expected " << total_ << " values per channel, saw " << seen_;
  std::vector<float> out(static_cast<size_t>(channels_));
  for (size_t c = 0; c < out.size(); ++c) {
    if (static_cast<int64_t>(top_[c].size()) > keep_) trim(c);
    out[c] = *std::min_element(top_[c].begin(), top_[c].end());
  }
  return out;
}

} // namespace neurocuda::calibration
