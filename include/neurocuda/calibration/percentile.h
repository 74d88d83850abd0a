// SPDX-License-Identifier: MIT
// Exact per-channel percentiles of activations, streamed: keeps only the top tail of each channel.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace neurocuda::calibration {

/// Streams activations of C channels and returns each channel's nearest-rank percentile:
/// the value at 1-based rank ceil(p/100 * N) of the N values in ascending order.
/// Memory per channel is O(N * (1 - p/100)), not O(N). p = 100 gives the maximum.
/// Not thread-safe: callers serialise add() on one object (different objects are independent).
class ChannelPercentile {
public:
  /// `values_per_channel` is N, known in advance (samples x spatial positions).
  ChannelPercentile(int64_t channels, int64_t values_per_channel, double percentile);
  /// Adds n samples of layout [n, C, plane] (plane = H*W, or 1 for features).
  void add(const float *data, int64_t n, int64_t plane);
  /// The per-channel percentile; throws InternalError if fewer values arrived than announced.
  std::vector<float> result();
  /// Number of values seen per channel so far.
  int64_t seen() const { return seen_; }

private:
  // Channel c's candidates are top_[c][0, size_[c]): the `keep_` largest values seen so far are among
  // them and all are above floor_[c] once the list has been trimmed. The buffers are written without
  // being zero-filled first (a vector's resize would, for every value streamed).
  void trim(size_t c);
  void raise_floor(size_t c);  // trim's cheaper cousin: a lower floor, no sort (percentile.cpp)
  void reserve(size_t c, size_t need);
  int64_t channels_, total_, keep_;
  int64_t seen_ = 0;
  std::vector<std::unique_ptr<float[]>> top_;
  std::vector<size_t> size_, capacity_;
  std::vector<float> floor_;
};

} // namespace neurocuda::calibration
